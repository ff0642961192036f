import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ListWebACLsCommand } from '@aws-sdk/client-wafv2';
import { describe, expect, it } from 'vitest';
import { AccountAccessError } from '../../lambdas/adapters/account-clients.ts';
import { denyAssumeRole, emulatorAccountClients } from '../support/accounts.ts';
import { uniqueName } from '../support/aws.ts';

const config = {
  region: 'eu-west-1',
  stackName: 'OriginGuard',
  accounts: {
    edge: { accountId: '210000000001', regions: ['eu-west-1'], externalId: 'og-test' },
    workload: { accountId: '210000000002', regions: ['eu-west-1', 'us-west-2'], externalId: 'og-test' },
  },
};

async function createGroup(ec2: ReturnType<ReturnType<typeof emulatorAccountClients>['hub']['ec2']>, name: string) {
  const vpcs = await ec2.send(new DescribeVpcsCommand({}));
  const vpcId = vpcs.Vpcs?.[0]?.VpcId;
  const created = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: 'account test', VpcId: vpcId }));
  const described = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [created.GroupId!] }));
  return described.SecurityGroups![0]!;
}

describe('AccountClients on the emulator', () => {
  it('acts in the spoke account through the assumed role, and in the hub account without one', async () => {
    const { hub, accounts } = emulatorAccountClients(config, 'reconcile');

    const inWorkload = await createGroup(accounts.for({ account: 'workload' }).ec2(), uniqueName('sg-workload'));
    const inHub = await createGroup(accounts.for({}).ec2(), uniqueName('sg-hub'));

    expect(inWorkload.OwnerId).toBe('210000000002');
    expect(inHub.OwnerId).not.toBe('210000000002');
    expect(accounts.for({})).toBe(hub);
    // The hub cannot see the spoke's group: it really lives in the other account.
    await expect(hub.ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [inWorkload.GroupId!] }))).rejects.toThrow(/InvalidGroup|does not exist/);
  });

  it('keeps one set of clients per account and region, in the item region', async () => {
    const { accounts } = emulatorAccountClients(config, 'audit');

    const a = accounts.for({ account: 'workload', region: 'us-west-2' });
    const b = accounts.for({ account: 'workload', region: 'us-west-2' });
    const c = accounts.for({ account: 'workload' });

    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a.settings.region).toBe('us-west-2');
    expect(c.settings.region).toBe('eu-west-1');
    expect(await a.ec2().config.region()).toBe('us-west-2');
    const group = await createGroup(a.ec2(), uniqueName('sg-usw2'));
    expect(group.OwnerId).toBe('210000000002');
  });

  it('assumes the function role of the spoke stack for the item region, with the external id', async () => {
    const recorder = denyAssumeRole(() => false);
    const { accounts } = emulatorAccountClients(config, 'rotate', [recorder.plugin]);

    await accounts.check({ account: 'edge' });
    await accounts.check({ account: 'workload', region: 'us-west-2' });

    expect(recorder.seen).toEqual([
      'arn:aws:iam::210000000001:role/OriginGuard-rotate-eu-west-1',
      'arn:aws:iam::210000000002:role/OriginGuard-rotate-us-west-2',
    ]);
  });

  it('assumes a role once per account-region for all of its clients', async () => {
    const recorder = denyAssumeRole(() => false);
    const { accounts } = emulatorAccountClients(config, 'audit', [recorder.plugin]);

    const edge = accounts.for({ account: 'edge' });
    await Promise.all([edge.ec2().send(new DescribeVpcsCommand({})), edge.ec2().send(new DescribeVpcsCommand({}))]);
    await edge.wafv2('REGIONAL').send(new ListWebACLsCommand({ Scope: 'REGIONAL' }));
    await accounts.check({ account: 'edge' });

    expect(recorder.seen).toEqual(['arn:aws:iam::210000000001:role/OriginGuard-audit-eu-west-1']);
  });

  it('reports a role it cannot assume as an AccountAccessError naming account, region and role', async () => {
    const deny = denyAssumeRole((arn) => arn.includes('210000000001'));
    const { accounts } = emulatorAccountClients(config, 'audit', [deny.plugin]);

    const error = await accounts.check({ account: 'edge' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AccountAccessError);
    expect((error as Error).message).toMatch(/account "edge" \(210000000001\) in eu-west-1: AccessDenied/);
    expect((error as Error).message).toContain('arn:aws:iam::210000000001:role/OriginGuard-audit-eu-west-1');
    expect((error as Error).message).not.toMatch(/testing|ASIA|AKIA/);
    await expect(accounts.check({ account: 'workload' })).resolves.toBeUndefined();
  });
});
