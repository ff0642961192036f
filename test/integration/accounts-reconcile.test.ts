/**
 * Issue 13: one reconcile over security groups in three accounts and two regions, through the reconcile
 * handler's own wiring (spoke roles assumed per target); a target whose role cannot be assumed fails alone.
 */
import { CreateSecurityGroupCommand, DescribeSecurityGroupRulesCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { createReconcileHandler, reconcileDeps } from '../../lambdas/handlers/reconcile.ts';
import { createLogger } from '../../lambdas/logger.ts';
import { AccountClients } from '../../lambdas/adapters/account-clients.ts';
import type { AlertEvent } from '../../lambdas/core/ports.ts';
import { denyAssumeRole, emulatorAccountClients } from '../support/accounts.ts';
import { uniqueName } from '../support/aws.ts';

const accounts = {
  a: { accountId: '410000000001', regions: ['eu-west-1', 'us-west-2'] },
  b: { accountId: '410000000002', regions: ['eu-west-1'] },
  c: { accountId: '410000000003', regions: ['us-west-2'] },
  gone: { accountId: '410000000004', regions: ['eu-west-1'] },
};
const placements = [
  { name: 'a-euw1', account: 'a', region: 'eu-west-1' },
  { name: 'a-usw2', account: 'a', region: 'us-west-2' },
  { name: 'b-euw1', account: 'b', region: 'eu-west-1' },
  { name: 'c-usw2', account: 'c', region: 'us-west-2' },
  { name: 'gone-euw1', account: 'gone', region: 'eu-west-1' },
] as const;
const CIDRS = ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'];

describe('reconcile across accounts and regions on the emulator', () => {
  let config: Config;
  let env: ReturnType<typeof emulatorAccountClients>;
  const groupOf = new Map<string, string>();

  beforeAll(async () => {
    const base = { region: 'eu-west-1', stackName: 'OriginGuard', organizationId: 'o-a1b2c3d4e5', accounts };
    env = emulatorAccountClients(parseConfig(base), 'reconcile');
    for (const p of placements.filter((x) => x.account !== 'gone')) {
      const ec2 = env.accounts.for(p).ec2();
      const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName(`og-${p.name}`), Description: 'cross-account reconcile' }));
      groupOf.set(p.name, GroupId!);
    }
    groupOf.set('gone-euw1', 'sg-0000000000000dead');
    config = parseConfig({
      ...base,
      ipRanges: {
        targets: placements.map((p) => ({
          name: p.name,
          account: p.account,
          region: p.region,
          securityGroupIds: [groupOf.get(p.name)!],
          ports: [443],
          sources: [{ type: 'static', cidrs: CIDRS }],
        })),
      },
    });
  });

  it('reconciles every group in its own account and region; the account whose role is missing fails alone', async () => {
    const deny = denyAssumeRole((arn) => arn.includes(accounts.gone.accountId));
    const alerts: AlertEvent[] = [];
    const runtime = { config, clients: env.hub, logger: createLogger('og-test-reconcile'), alerts: { publish: async (e: AlertEvent) => void alerts.push(e) } };
    // The handler's wiring, with AssumeRole into the "gone" account refused (as for a spoke stack never deployed).
    const deps = reconcileDeps(runtime, {}, new AccountClients({ config, hub: env.hub, fn: 'reconcile', stsPlugins: [deny.plugin] }));

    const result = await createReconcileHandler(deps)({ 'detail-type': 'Scheduled Event', source: 'aws.events' });

    const status = Object.fromEntries(result.targets.map((t) => [t.name, t.status]));
    expect(status).toEqual({ 'a-euw1': 'changes', 'a-usw2': 'changes', 'b-euw1': 'changes', 'c-usw2': 'changes', 'gone-euw1': 'failed' });
    for (const p of placements.filter((x) => x.account !== 'gone')) {
      const rules = await env.accounts.for(p).ec2().send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupOf.get(p.name)!] }] }));
      const ingress = rules.SecurityGroupRules!.filter((r) => !r.IsEgress);
      expect(ingress.map((r) => r.CidrIpv4 ?? r.CidrIpv6).sort(), p.name).toEqual([...CIDRS].sort());
      expect(ingress.every((r) => r.FromPort === 443), p.name).toBe(true);
      const group = await env.accounts.for(p).ec2().send(new DescribeSecurityGroupsCommand({ GroupIds: [groupOf.get(p.name)!] }));
      expect(group.SecurityGroups![0]!.OwnerId, p.name).toBe(accounts[p.account].accountId);
    }
    expect(result.targets.find((t) => t.name === 'gone-euw1')!.error).toMatch(/AccessDenied|assume/i);
    expect(alerts.map((a) => a.finding.id)).toEqual([expect.stringContaining('ip-ranges-target:gone-euw1')]);
    expect(deny.seen).toContain('arn:aws:iam::410000000004:role/OriginGuard-reconcile-eu-west-1');
  });

  it('leaves the hub account alone: the groups exist only in their accounts', async () => {
    const hubGroups = await env.hub.ec2().send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [groupOf.get('b-euw1')!] }] }));
    expect(hubGroups.SecurityGroups ?? []).toEqual([]);
  });

  it('runs again as in-sync, writing nothing', async () => {
    const runtime = { config: { ...config, ipRanges: { ...config.ipRanges!, targets: config.ipRanges!.targets.filter((t) => t.account !== 'gone') } }, clients: env.hub, logger: createLogger('og-test-reconcile') };
    const result = await createReconcileHandler(reconcileDeps(runtime, {}))({ 'detail-type': 'Scheduled Event', source: 'aws.events' });
    expect(result.targets.map((t) => t.status)).toEqual(['in-sync', 'in-sync', 'in-sync', 'in-sync']);
  });
});
