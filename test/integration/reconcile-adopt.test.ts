/**
 * Adoption and the per-family quota against the emulator, which the test setup starts through
 * test/support/moto_per_family.py: its rules quota is counted per family as AWS counts it (60 IPv4 + 60 IPv6
 * inbound per group), instead of moto's 60 for both together.
 */
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeSecurityGroupRulesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { IpRangesSchema, type IpRangesConfig } from '../../lambdas/config.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { Ec2SecurityGroupStore } from '../../lambdas/adapters/ec2-security-groups.ts';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { leaseKey } from '../../lambdas/core/lease.ts';
import { silentLog, type AlertEvent, type Clock } from '../../lambdas/core/ports.ts';
import { reconcile, type IpFeedPort, type ReconcileDeps } from '../../lambdas/core/reconcile.ts';
import { loadCloudFrontHistory } from '../support/cloudfront-history.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { recordCalls } from '../support/faults.ts';

const ec2 = new EC2Client(emulatorClientConfig());
const clock: Clock = { now: () => new Date(), sleep: async () => {} };
const noFeeds: IpFeedPort = {
  fetchText: async (url) => {
    throw new Error(`no feed expected: ${url}`);
  },
  konnectConfigurations: async () => [],
};
let vpcId: string;

function deps(events: AlertEvent[]): ReconcileDeps {
  return { feeds: noFeeds, groups: new Ec2SecurityGroupStore(ec2, { clock }), alerts: { publish: async (e) => void events.push(e) }, clock, log: silentLog };
}

function staticTarget(name: string, groupIds: string[], cidrs: string[], overrides: Record<string, unknown> = {}): IpRangesConfig {
  return IpRangesSchema.parse({ targets: [{ name, securityGroupIds: groupIds, ports: [443], ipVersions: ['ipv4', 'ipv6'], sources: [{ type: 'static', cidrs }], ...overrides }] });
}

async function createGroup(): Promise<string> {
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-adopt'), Description: 'adoption test', VpcId: vpcId }));
  return GroupId!;
}

async function authorize(groupId: string, cidrs: string[], description: string, port = 443): Promise<void> {
  const v4 = cidrs.filter((c) => !c.includes(':'));
  const v6 = cidrs.filter((c) => c.includes(':'));
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: port,
          ToPort: port,
          ...(v4.length ? { IpRanges: v4.map((CidrIp) => ({ CidrIp, Description: description })) } : {}),
          ...(v6.length ? { Ipv6Ranges: v6.map((CidrIpv6) => ({ CidrIpv6, Description: description })) } : {}),
        },
      ],
    }),
  );
}

async function ingress(groupId: string) {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress).map((r) => ({ id: r.SecurityGroupRuleId!, cidr: (r.CidrIpv4 ?? r.CidrIpv6)!, port: r.FromPort!, description: r.Description ?? '' }));
}

const v4 = (n: number, third = 51) => Array.from({ length: n }, (_, i) => `198.${third}.${i}.0/24`);
const v6 = (n: number) => Array.from({ length: n }, (_, i) => `2001:db8:${(i + 1).toString(16)}::/48`);
const WRITES = new Set(['AuthorizeSecurityGroupIngressCommand', 'RevokeSecurityGroupIngressCommand', 'ModifySecurityGroupRulesCommand']);

beforeAll(async () => {
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc!.VpcId!;
});

describe('the emulator counts the rules quota per family (moto_per_family.py)', () => {
  it('lets 60 IPv4 and 60 IPv6 rules share one group, and refuses a 61st IPv4 rule', async () => {
    const groupId = await createGroup();
    await authorize(groupId, [...v4(60), ...v6(60)], 'by hand');
    await expect(authorize(groupId, ['203.0.113.0/24'], 'one too many')).rejects.toMatchObject({ name: 'RulesPerSecurityGroupLimitExceeded' });
    expect(await ingress(groupId)).toHaveLength(120);
  });
});

describe('reconcile: per-family quota', () => {
  it('puts 60 IPv4 + 60 IPv6 desired rules into one group: no capacity error, no group asked for', async () => {
    // Arrange
    const name = uniqueName('fam').toLowerCase();
    const groupId = await createGroup();
    const events: AlertEvent[] = [];
    // Act
    const result = await reconcile(staticTarget(name, [groupId], [...v4(60), ...v6(60)]), {}, deps(events));
    // Assert
    const t = result.targets[0];
    expect(t.error).toBeUndefined();
    expect(t.status).toBe('changes');
    expect(t.groups[0].families).toEqual({ ipv4: { before: 0, after: 60, unowned: 0, quota: 60 }, ipv6: { before: 0, after: 60, unowned: 0, quota: 60 } });
    expect((await ingress(groupId)).filter((r) => r.description.startsWith(`origin-guard:${name}:`))).toHaveLength(120);
    expect(events).toEqual([]);
  });
});

describe('reconcile: adoption of hand-made rules', () => {
  // The real CloudFront origin-facing IPv4 ranges, as the SG-updater sample or a hand-kept list leaves them.
  const history = loadCloudFrontHistory();
  const originFacing = history[history.length - 1].CLOUDFRONT_ORIGIN_FACING.ipv4;

  it('treats identical hand-made rules as present: no duplicate call, no capacity error, in sync', async () => {
    // Arrange: a group holding every desired range under the description "CloudFront", and other rules up to 60 IPv4.
    const name = uniqueName('adopt').toLowerCase();
    const groupId = await createGroup();
    await authorize(groupId, originFacing, 'CloudFront');
    await authorize(groupId, v4(60 - originFacing.length, 77), 'office', 22);
    const recorder = recordCalls(ec2);
    const events: AlertEvent[] = [];
    try {
      // Act
      const result = await reconcile(staticTarget(name, [groupId], originFacing), {}, deps(events));
      // Assert: nothing written, nothing refused, no alert.
      const t = result.targets[0];
      expect(t.error).toBeUndefined();
      expect(t.status).toBe('in-sync');
      expect(t.adopt).toBe(false);
      expect(t.groups[0]).toMatchObject({ add: [], remove: [], adopt: [], matchedUnowned: originFacing.length });
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
      expect(events).toEqual([]);
    } finally {
      recorder.remove();
    }
  });

  it('with --adopt, rewrites the descriptions of the identical rules in place and adds only the ranges that are truly missing', async () => {
    // Arrange: all but two desired ranges by hand; one hand-made rule for a range nobody publishes; a full group.
    const name = uniqueName('adopt').toLowerCase();
    const groupId = await createGroup();
    const byHand = originFacing.slice(2);
    await authorize(groupId, [...byHand, '192.0.2.0/24'], 'CloudFront');
    await authorize(groupId, v4(60 - byHand.length - 1 - 2, 78), 'office', 22);
    const before = new Map((await ingress(groupId)).map((r) => [r.cidr + ' ' + r.port, r.id]));
    const recorder = recordCalls(ec2);
    const events: AlertEvent[] = [];
    try {
      // Act: the dry run shows the plan; the real run applies it.
      const dry = await reconcile(staticTarget(name, [groupId], originFacing), { dryRun: true, adopt: true }, deps(events));
      expect(dry.targets[0].groups[0].adopt).toHaveLength(byHand.length);
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
      const result = await reconcile(staticTarget(name, [groupId], originFacing), { adopt: true }, deps(events));

      // Assert: one modify call for the adopted rules, one authorize for the two missing, nothing revoked.
      const t = result.targets[0];
      expect(t.error).toBeUndefined();
      expect(t.adopt).toBe(true);
      expect(t.groups[0].add.map((r) => r.cidr).sort()).toEqual(originFacing.slice(0, 2).sort());
      expect(t.groups[0].adopt).toHaveLength(byHand.length);
      const writes = recorder.calls.filter((c) => WRITES.has(c.command));
      expect(writes.map((c) => c.command).sort()).toEqual(['AuthorizeSecurityGroupIngressCommand', 'ModifySecurityGroupRulesCommand']);
      const authorized = writes.find((c) => c.command === 'AuthorizeSecurityGroupIngressCommand')!.input.IpPermissions.flatMap((p: any) => (p.IpRanges ?? []).map((r: any) => r.CidrIp));
      expect(authorized.sort()).toEqual(originFacing.slice(0, 2).sort());
      // The adopted rules kept their ids; the unrelated hand-made rule kept its description.
      const after = await ingress(groupId);
      for (const cidr of byHand) {
        const rule = after.find((r) => r.cidr === cidr && r.port === 443)!;
        expect(rule.id).toBe(before.get(`${cidr} 443`));
        expect(rule.description).toBe(`origin-guard:${name}:static`);
      }
      expect(after.find((r) => r.cidr === '192.0.2.0/24')?.description).toBe('CloudFront');
      expect(after).toHaveLength(60);
      expect(events).toEqual([]);

      // A second run has nothing to do.
      recorder.calls.length = 0;
      const again = await reconcile(staticTarget(name, [groupId], originFacing), { adopt: true }, deps(events));
      expect(again.targets[0].status).toBe('in-sync');
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
    } finally {
      recorder.remove();
    }
  });

  it('adopts IPv6 rules too (target "adopt": true)', async () => {
    const name = uniqueName('adopt6').toLowerCase();
    const groupId = await createGroup();
    await authorize(groupId, v6(3), 'hand-kept list');
    const events: AlertEvent[] = [];
    const result = await reconcile(staticTarget(name, [groupId], v6(3), { adopt: true }), {}, deps(events));
    expect(result.targets[0].error).toBeUndefined();
    expect(result.targets[0].writes).toMatchObject({ authorize: 0, revoke: 0, modify: 1 });
    expect((await ingress(groupId)).map((r) => r.description)).toEqual(Array(3).fill(`origin-guard:${name}:static`));
  });
});

describe('reconcile: one writer per target (lease in the alert-state table)', () => {
  it('skips a target the Lambda holds, writing nothing, and reconciles once the lease is released', async () => {
    // Arrange: the alert-state table in the emulator; the "Lambda" holds the target's lease.
    const dynamo = new DynamoDBClient(emulatorClientConfig());
    const table = uniqueName('og-leases');
    await new DynamoDbAlertState(dynamo, table).ensureTable();
    const name = uniqueName('lease').toLowerCase();
    const groupId = await createGroup();
    const config = staticTarget(name, [groupId], v4(3));
    const lambda = await new DynamoDbLeases(dynamo, table, 'lambda:origin-guard-reconcile:1').acquire(leaseKey.reconcileTarget(name), 'reconcile', 60_000);
    const events: AlertEvent[] = [];
    const cli = { ...deps(events), leases: new DynamoDbLeases(dynamo, table, 'cli:laptop:1') };

    // Act + Assert: skipped while held; nothing written.
    const skipped = (await reconcile(config, {}, cli)).targets[0];
    expect(skipped.status).toBe('skipped');
    expect(skipped.notes.join(' ')).toMatch(/is being changed by reconcile \(lambda:origin-guard-reconcile:1\)/);
    expect(await ingress(groupId)).toEqual([]);

    // Released: the CLI run applies and gives its own lease back.
    await lambda.release();
    const applied = (await reconcile(config, {}, cli)).targets[0];
    expect(applied.status).toBe('changes');
    expect(await ingress(groupId)).toHaveLength(3);
    expect(await cli.leases.holder(leaseKey.reconcileTarget(name))).toBeUndefined();
    expect(events).toEqual([]);
  });
});
