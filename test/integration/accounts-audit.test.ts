/**
 * Issue 13: the audit over 20 account-regions (10 accounts × 2 regions, each with a web ACL and a reconcile
 * target of two groups) where one spoke role is missing: one finding for that account-region, every other one
 * audited, with at most `audit.concurrency` account-regions at once and `account` / `region` on every finding.
 */
import { CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { CreateWebACLCommand } from '@aws-sdk/client-wafv2';
import { beforeAll, describe, expect, it } from 'vitest';
import { visibility } from '../../cli/seed.ts';
import { AccountClients } from '../../lambdas/adapters/account-clients.ts';
import { runAccountAudit, type AccountAuditResult } from '../../lambdas/adapters/account-audit.ts';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { silentLog, systemClock } from '../../lambdas/core/ports.ts';
import { denyAssumeRole, emulatorAccountClients, testAccounts } from '../support/accounts.ts';
import { uniqueName } from '../support/aws.ts';

const REGIONS = ['eu-west-1', 'us-west-2'];
const accounts = Object.fromEntries(
  Object.entries(testAccounts(10, REGIONS)).map(([name, a]) => [name, { ...a, accountId: String(500000000000 + Number(name.slice(-2))) }]),
);
const MISSING = { account: 'acct-07', region: 'us-west-2' };
const missingRole = `arn:aws:iam::${accounts['acct-07']!.accountId}:role/OriginGuard-audit-us-west-2`;

describe('the audit over 20 account-regions on the emulator', () => {
  let config: Config;
  let result: AccountAuditResult;
  let deny: ReturnType<typeof denyAssumeRole>;
  let auditDeps: Parameters<typeof runAccountAudit>[1];

  beforeAll(async () => {
    const base = { region: 'eu-west-1', stackName: 'OriginGuard', accounts };
    const { hub, accounts: clients } = emulatorAccountClients(parseConfig(base), 'audit');
    const webAcls: unknown[] = [];
    const targets: unknown[] = [];
    await Promise.all(
      Object.keys(accounts).flatMap((account) =>
        REGIONS.map(async (region) => {
          if (account === MISSING.account && region === MISSING.region) return;
          const c = clients.for({ account, region });
          const name = uniqueName(`acl-${account}`);
          const acl = await c.wafv2('REGIONAL').send(new CreateWebACLCommand({ Name: name, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, Rules: [], VisibilityConfig: visibility(name) }));
          webAcls.push({ scope: 'REGIONAL', name, id: acl.Summary!.Id!, account, region });
          const groups: string[] = [];
          for (let i = 0; i < 2; i++) {
            const g = await c.ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName(`og-${account}-${i}`), Description: 'audit scale' }));
            groups.push(g.GroupId!);
          }
          targets.push({ name: `${account}-${region}`, account, region, securityGroupIds: groups, ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] });
        }),
      ),
    );
    // The missing account-region still names a target: the audit must say it could not look, not that all is well.
    targets.push({ name: 'acct-07-us-west-2', account: MISSING.account, region: MISSING.region, securityGroupIds: ['sg-0000000000000abc'], ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] });
    config = parseConfig({ ...base, ipRanges: { targets }, audit: { concurrency: 4, webAcls } });
    deny = denyAssumeRole((arn) => arn === missingRole);
    const accountClients = new AccountClients({ config, hub, fn: 'audit', stsPlugins: [deny.plugin] });
    auditDeps = { hub, accounts: accountClients, clock: systemClock, log: silentLog };
    result = await runAccountAudit(config, auditDeps);
  });

  it('turns the missing role into one finding for that account-region, and audits the other 19', () => {
    const access = result.findings.filter((f) => f.checkId === 'audit.account-access' && f.status === 'FAIL');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ account: 'acct-07', region: 'us-west-2', severity: 'HIGH', resource: 'account:500000000007/us-west-2' });
    expect(access[0]!.message).toContain(missingRole);
    expect(access[0]!.message).toMatch(/AccessDenied/);
    // Nothing else is said about the unreachable account-region: no false "missing" findings from a failed look.
    expect(result.findings.filter((f) => f.account === 'acct-07' && f.region === 'us-west-2')).toHaveLength(1);

    const spokes = result.accountRegions.filter((r) => r.account !== undefined);
    expect(spokes).toHaveLength(20);
    expect(spokes.filter((r) => r.status === 'audited')).toHaveLength(19);
    expect(spokes.find((r) => r.status === 'unreachable')).toMatchObject(MISSING);
  });

  it('audits each reachable account-region through its own clients: its web ACL found, its groups read', () => {
    for (const account of Object.keys(accounts)) {
      for (const region of REGIONS) {
        if (account === MISSING.account && region === MISSING.region) continue;
        const here = result.findings.filter((f) => f.account === account && f.region === region);
        const waf = here.filter((f) => f.checkId === 'waf.exists');
        expect(waf.map((f) => f.status), `${account}/${region}`).toEqual(['PASS']);
        expect(here.some((f) => f.checkId.startsWith('sg.') && f.status === 'PASS'), `${account}/${region}`).toBe(true);
        expect(here.filter((f) => f.checkId === 'audit.read' && f.status === 'FAIL'), `${account}/${region}`).toEqual([]);
        expect(here.every((f) => f.id.endsWith(`@${account}/${region}`) || f.checkId === 'audit.account-access')).toBe(true);
      }
    }
  });

  it('puts account and region on every finding, and runs at most the configured concurrency at once', () => {
    const spokeFindings = result.findings.filter((f) => f.account !== undefined);
    expect(spokeFindings.length).toBeGreaterThan(60);
    expect(result.findings.every((f) => typeof f.region === 'string')).toBe(true);
    expect(new Set(result.findings.map((f) => f.id)).size).toBe(result.findings.length);
    expect(result.peakConcurrency).toBeLessThanOrEqual(4);
    expect(result.peakConcurrency).toBeGreaterThan(1);
    expect(deny.seen).toContain(missingRole);
  });

  it('audits one account-region alone, as one invocation of the Step Functions fan-out does', async () => {
    const one = await runAccountAudit(config, auditDeps, undefined, { account: 'acct-03', region: 'us-west-2' });

    expect(one.accountRegions).toEqual([{ account: 'acct-03', region: 'us-west-2', status: 'audited', findings: expect.any(Number), failed: expect.any(Number) }]);
    expect(one.findings.every((f) => f.account === 'acct-03' && f.region === 'us-west-2')).toBe(true);
    expect(one.findings.filter((f) => f.checkId === 'waf.exists').map((f) => f.status)).toEqual(['PASS']);
    await expect(runAccountAudit(config, auditDeps, undefined, { account: 'acct-99', region: 'us-west-2' })).rejects.toThrow(/no configured account-region acct-99\/us-west-2/);
  });
});
