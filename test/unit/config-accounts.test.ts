import { describe, expect, it } from 'vitest';
import { accountRegions, resolvePlacement, spokeRoleName } from '../../lambdas/accounts.ts';
import { ConfigError, parseConfig } from '../../lambdas/config.ts';

const accounts = {
  edge: { accountId: '111111111111', regions: ['us-east-1'] },
  workload: { accountId: '222222222222', regions: ['eu-west-1', 'eu-central-1'] },
};

const multi = {
  region: 'eu-west-1',
  organizationId: 'o-a1b2c3d4e5',
  hubAccountId: '999999999999',
  accounts,
  secrets: [
    {
      name: 'cdn-to-gateway',
      secretName: 'origin-guard/cdn-to-gateway',
      headerName: 'X-Origin-Verify',
      senders: [{ type: 'cloudfront', distributionId: 'E2EXAMPLE', account: 'edge' }],
      validators: [
        { type: 'wafv2', scope: 'REGIONAL', webAclName: 'gateway-acl', webAclId: 'abc', account: 'workload', region: 'eu-central-1' },
        { type: 'kong-route', adminUrl: 'https://kong.internal:8444', routes: ['api'], account: 'workload' },
      ],
    },
  ],
  ipRanges: {
    targets: [
      { name: 'alb', securityGroupIds: ['sg-0a1'], ports: [443], account: 'workload', region: 'eu-central-1', sources: [{ type: 'static', cidrs: ['10.0.0.0/8'] }] },
      { name: 'hub-alb', securityGroupIds: ['sg-0a2'], ports: [443], sources: [{ type: 'static', cidrs: ['10.0.0.0/8'] }] },
    ],
  },
  audit: {
    distributions: [{ id: 'E2EXAMPLE', account: 'edge' }],
    webAcls: [{ scope: 'CLOUDFRONT', name: 'edge-acl', id: 'x', account: 'edge' }],
    peerings: [{ id: 'pcx-0a1', account: 'workload', region: 'eu-west-1' }],
  },
};

function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const clone = () => structuredClone(multi) as any;

describe('accounts in the config', () => {
  it('accepts accounts and placements on senders, validators, reconcile targets and audit items', () => {
    const config = parseConfig(multi);
    expect(config.accounts?.workload.accountId).toBe('222222222222');
    expect(config.secrets[0].senders[0].account).toBe('edge');
    expect(config.ipRanges?.targets[0].region).toBe('eu-central-1');
    expect(config.spokeStackSet).toBe(false);
  });

  it('keeps a config without accounts as it was (every item in the deployment account)', () => {
    const { accounts: _a, organizationId: _o, hubAccountId: _h, ...single } = clone();
    single.secrets[0].senders[0].account = undefined;
    single.secrets[0].validators = [{ type: 'wafv2', scope: 'REGIONAL', webAclName: 'a', webAclId: 'b' }];
    single.ipRanges.targets = [single.ipRanges.targets[1]];
    delete single.audit;
    expect(problemsOf(single)).toEqual([]);
  });

  it('refuses an unknown account name, naming the field and the known accounts', () => {
    const value = clone();
    value.secrets[0].validators[0].account = 'shared';
    value.ipRanges.targets[0].account = 'nope';
    expect(problemsOf(value)).toEqual([
      'secrets[0].validators[0].account: unknown account "shared": the accounts are "edge", "workload"',
      'ipRanges.targets[0].account: unknown account "nope": the accounts are "edge", "workload"',
    ]);
  });

  it('refuses an account when none are configured', () => {
    const { accounts: _a, ...value } = clone();
    value.audit = { peerings: [{ id: 'pcx-0a1', account: 'workload' }] };
    value.secrets[0].senders[0].account = undefined;
    value.secrets[0].validators = [{ type: 'wafv2', scope: 'REGIONAL', webAclName: 'a', webAclId: 'b' }];
    value.ipRanges.targets = [value.ipRanges.targets[1]];
    expect(problemsOf(value)).toEqual(['audit.peerings[0].account: unknown account "workload": no accounts are configured (add them under "accounts")']);
  });

  it('refuses duplicate account ids', () => {
    const value = clone();
    value.accounts.other = { accountId: '222222222222' };
    expect(problemsOf(value)).toEqual(['accounts.other.accountId: 222222222222 is also the id of account "workload"']);
  });

  it('refuses a region on global resources: CloudFront and CLOUDFRONT-scope web ACLs', () => {
    const value = clone();
    value.secrets[0].senders[0].region = 'us-east-1';
    value.audit.distributions[0].region = 'eu-west-1';
    value.audit.webAcls[0].region = 'us-east-1';
    expect(problemsOf(value)).toEqual([
      'secrets[0].senders[0].region: CloudFront is global: remove region',
      'audit.webAcls[0].region: a CLOUDFRONT-scope web ACL is global: remove region',
      'audit.distributions[0].region: CloudFront is global: remove region',
    ]);
  });

  it('refuses another region without an account: the hub functions reach other regions through spoke roles', () => {
    const value = clone();
    value.ipRanges.targets[1].region = 'us-west-2';
    expect(problemsOf(value)).toEqual([
      'ipRanges.targets[1].region: us-west-2 is not the stack\'s region (eu-west-1): set "account" too (list the hub account under "accounts" with its own id to use it in other regions)',
    ]);
    value.ipRanges.targets[1].region = 'eu-west-1';
    expect(problemsOf(value)).toEqual([]);
  });

  it('checks account ids, role ARNs of the same account, and a trust condition', () => {
    const value = clone();
    value.accounts.edge.accountId = '1234';
    value.accounts.workload.roleArn = 'arn:aws:iam::333333333333:role/mine';
    delete value.organizationId;
    value.accounts.third = { accountId: '444444444444' };
    expect(problemsOf(value)).toEqual([
      'accounts.edge.accountId: must be a 12-digit AWS account id',
      'accounts.edge.externalId: is required when there is no organizationId: the spoke role must require aws:PrincipalOrgID or an external id',
      'accounts.workload.roleArn: must be a role of account 222222222222',
      'accounts.third.externalId: is required when there is no organizationId: the spoke role must require aws:PrincipalOrgID or an external id',
    ]);
    value.accounts.edge.accountId = '111111111111';
    expect(problemsOf(value)).toEqual([
      'accounts.edge.externalId: is required when there is no organizationId: the spoke role must require aws:PrincipalOrgID or an external id',
      'accounts.workload.roleArn: must be a role of account 222222222222',
      'accounts.third.externalId: is required when there is no organizationId: the spoke role must require aws:PrincipalOrgID or an external id',
    ]);
  });

  it('asks for organizational units and an organization when the spokes are a StackSet', () => {
    const value = clone();
    value.spokeStackSet = true;
    delete value.organizationId;
    for (const a of Object.values(value.accounts) as any[]) a.externalId = 'x1';
    expect(problemsOf(value)).toEqual([
      'organizationalUnitIds: is required when spokeStackSet is true (a service-managed StackSet targets organizational units)',
      'organizationId: is required when spokeStackSet is true (StackSets deploy to the accounts of an organization)',
    ]);
    value.organizationId = 'o-a1b2c3d4e5';
    value.organizationalUnitIds = ['ou-ab12-cdef3456'];
    expect(problemsOf(value)).toEqual([]);
  });
});

describe('placements', () => {
  const config = parseConfig(multi);

  it('resolves an item without account to the hub, with no role to assume', () => {
    expect(resolvePlacement(config, {}, 'rotate')).toEqual({ region: 'eu-west-1' });
  });

  it('resolves a spoke item to its spoke role for the function and region', () => {
    expect(resolvePlacement(config, { account: 'workload', region: 'eu-central-1' }, 'reconcile')).toEqual({
      account: 'workload',
      accountId: '222222222222',
      region: 'eu-central-1',
      roleArn: 'arn:aws:iam::222222222222:role/OriginGuard-reconcile-eu-central-1',
    });
    // A global item (CloudFront) goes through the account's first region.
    expect(resolvePlacement(config, { account: 'edge' }, 'rotate').roleArn).toBe('arn:aws:iam::111111111111:role/OriginGuard-rotate-us-east-1');
  });

  it('uses a configured role name or ARN and the hub account as is', () => {
    const c = parseConfig({ ...clone(), accounts: { ...accounts, edge: { accountId: '111111111111', roleName: 'Mine' }, hub: { accountId: '999999999999' } } });
    expect(resolvePlacement(c, { account: 'edge' }, 'audit').roleArn).toBe('arn:aws:iam::111111111111:role/Mine');
    expect(resolvePlacement(c, { account: 'hub' }, 'audit').roleArn).toBeUndefined();
  });

  it('reaches the hub account in another region through its spoke role there', () => {
    const c = parseConfig({ ...clone(), accounts: { ...accounts, hub: { accountId: '999999999999', regions: ['eu-west-1', 'us-west-2'] } } });
    expect(resolvePlacement(c, { account: 'hub', region: 'eu-west-1' }, 'reconcile').roleArn).toBeUndefined();
    expect(resolvePlacement(c, { account: 'hub', region: 'us-west-2' }, 'reconcile').roleArn).toBe('arn:aws:iam::999999999999:role/OriginGuard-reconcile-us-west-2');
  });

  it('lists every account-region the config names', () => {
    expect(accountRegions(config).map((a) => `${a.account}/${a.region}`)).toEqual(['edge/us-east-1', 'workload/eu-central-1', 'workload/eu-west-1']);
  });

  it('refuses a spoke role name IAM would refuse', () => {
    expect(spokeRoleName('OriginGuard', 'audit', 'eu-west-1')).toBe('OriginGuard-audit-eu-west-1');
    expect(() => spokeRoleName('X'.repeat(60), 'audit', 'eu-west-1')).toThrow(/longer than IAM's 64 characters/);
  });
});
