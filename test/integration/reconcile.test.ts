import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateManagedPrefixListCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  CreateVpcCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  GetManagedPrefixListEntriesCommand,
} from '@aws-sdk/client-ec2';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpRangesSchema, type IpRangesConfig } from '../../lambdas/config.ts';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { Ec2SecurityGroupStore, stateTagKeys } from '../../lambdas/adapters/ec2-security-groups.ts';
import { HttpIpFeeds } from '../../lambdas/adapters/ip-feeds.ts';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-alerts.ts';
import { md5Hex } from '../../lambdas/core/ip-sources.ts';
import { silentLog, type AlertEvent, type AlertPort, type Clock } from '../../lambdas/core/ports.ts';
import { reconcile, reconcileFindingId, type ReconcileDeps, type ReconcileOptions } from '../../lambdas/core/reconcile.ts';
import { createReconcileHandler, reconcileDeps } from '../../lambdas/handlers/reconcile.ts';
import { AwsClients } from '../../lambdas/adapters/aws-clients.ts';
import type { Config } from '../../lambdas/config.ts';
import { createLogger } from '../../lambdas/logger.ts';
import { loadCloudFrontHistory, type HistoryVersion } from '../support/cloudfront-history.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';
import { konnectConfiguration, startFakeKonnect, type FakeKonnect } from '../support/fake-konnect.ts';

// ---------- fixtures: the real CloudFront history as ip-ranges.json versions ----------

const history = loadCloudFrontHistory();

function ipRangesJson(v: Pick<HistoryVersion, 'syncToken' | 'createDate' | 'CLOUDFRONT' | 'CLOUDFRONT_ORIGIN_FACING'>): string {
  const entries = (service: 'CLOUDFRONT' | 'CLOUDFRONT_ORIGIN_FACING') => v[service];
  const v4 = (['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING'] as const).flatMap((s) =>
    entries(s).ipv4.map((ip_prefix) => ({ ip_prefix, region: 'GLOBAL', service: s, network_border_group: 'GLOBAL' })),
  );
  const v6 = (['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING'] as const).flatMap((s) =>
    entries(s).ipv6.map((ipv6_prefix) => ({ ipv6_prefix, region: 'GLOBAL', service: s, network_border_group: 'GLOBAL' })),
  );
  return JSON.stringify({ syncToken: v.syncToken, createDate: v.createDate, prefixes: v4, ipv6_prefixes: v6 }, null, 2);
}

/** The versions around the 2024-05 IPv6 spike (27 → 45 → 27 prefixes): 12 consecutive real versions. */
const REPLAY = history.slice(36, 48);

// ---------- harness ----------

const ec2 = new EC2Client(emulatorClientConfig());
const fastClock: Clock = { now: () => new Date(), sleep: async () => {} };
let dir: string;
let vpcId: string;

class RecordingAlerts implements AlertPort {
  events: AlertEvent[] = [];
  async publish(event: AlertEvent) {
    this.events.push(event);
  }
}

function deps(alerts: AlertPort, feeds = new HttpIpFeeds()): ReconcileDeps {
  return { feeds, groups: new Ec2SecurityGroupStore(ec2, { clock: fastClock }), alerts, clock: fastClock, log: silentLog };
}

async function createGroups(n: number, unownedPerGroup: (i: number) => number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-reconcile'), Description: 'reconcile test', VpcId: vpcId }));
    ids.push(GroupId!);
    const count = unownedPerGroup(i);
    if (count > 0) {
      // Rules origin-guard does not own: the office on SSH, and one that looks like another target's.
      const ranges = Array.from({ length: count }, (_, k) => ({ CidrIp: `10.${i}.${k}.0/24`, Description: k === 0 ? 'origin-guard:other-target:static' : 'office ssh' }));
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: GroupId!, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: ranges }] }));
    }
  }
  return ids;
}

interface SimpleRule {
  groupId: string;
  cidr: string;
  port: number;
  description?: string;
}

async function ingress(groupIds: string[]): Promise<SimpleRule[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }));
  return (out.SecurityGroupRules ?? [])
    .filter((r) => !r.IsEgress)
    .map((r) => ({ groupId: r.GroupId!, cidr: (r.CidrIpv4 ?? r.CidrIpv6 ?? r.PrefixListId)!, port: r.FromPort!, description: r.Description }));
}

async function stateTags(groupId: string): Promise<Record<string, string>> {
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return Object.fromEntries((out.SecurityGroups?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

const owned = (rules: SimpleRule[], target: string) => rules.filter((r) => r.description?.startsWith(`origin-guard:${target}:`));
const unowned = (rules: SimpleRule[], target: string) => rules.filter((r) => !r.description?.startsWith(`origin-guard:${target}:`));
const sortKeys = (rules: SimpleRule[]) => rules.map((r) => `${r.groupId} ${r.cidr} ${r.port}`).sort();

const WRITES = new Set(['AuthorizeSecurityGroupIngressCommand', 'RevokeSecurityGroupIngressCommand', 'CreateTagsCommand', 'DeleteTagsCommand']);

function writeFeed(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return pathToFileURL(path).href;
}

function awsTarget(name: string, groupIds: string[], url: string, overrides: Record<string, unknown> = {}): IpRangesConfig {
  return IpRangesSchema.parse({
    targets: [{ name, securityGroupIds: groupIds, ports: [443], sources: [{ type: 'aws', services: ['CLOUDFRONT'], url }], ...overrides }],
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'og-reconcile-'));
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---------- the replay ----------

describe('reconcile against the emulator', () => {
  it('replays 12 real versions: owned rules equal the desired set after each, unowned rules intact, one write of each kind per changed group', async () => {
    // Arrange: 4 groups with 1-4 unowned rules each; the whole CLOUDFRONT service (~220 rules) needs all four.
    const target = uniqueName('edge').toLowerCase();
    const groupIds = await createGroups(4, (i) => i + 1);
    const unownedBefore = sortKeys(unowned(await ingress(groupIds), target));
    const url = writeFeed(`${target}.json`, ipRangesJson(REPLAY[0]));
    const config = awsTarget(target, groupIds, url);
    const alerts = new RecordingAlerts();
    const recorder = recordCalls(ec2);
    const perVersion: Array<{ syncToken: string; authorize: number; revoke: number; changedGroups: number }> = [];
    let lastChangedToken: string | undefined;

    try {
      for (const version of REPLAY) {
        writeFeed(`${target}.json`, ipRangesJson(version));
        recorder.calls.length = 0;

        // Act
        const result = await reconcile(config, {}, deps(alerts));

        // Assert: exactly the desired set, once each, nothing else touched.
        const t = result.targets[0];
        expect(t.error, version.syncToken).toBeUndefined();
        expect(t.applied).toBe(true);
        const rules = await ingress(groupIds);
        const desired = [...version.CLOUDFRONT.ipv4, ...version.CLOUDFRONT.ipv6].map((c) => `${c} 443`).sort();
        expect(owned(rules, target).map((r) => `${r.cidr} ${r.port}`).sort()).toEqual(desired);
        expect(sortKeys(unowned(rules, target))).toEqual(unownedBefore);
        // The quota is per family, as AWS counts it (and as the emulator's launcher does).
        for (const g of groupIds) {
          expect(rules.filter((r) => r.groupId === g && !r.cidr.includes(':')).length).toBeLessThanOrEqual(60);
          expect(rules.filter((r) => r.groupId === g && r.cidr.includes(':')).length).toBeLessThanOrEqual(60);
        }
        // The version is recorded only when it changed this target; a version that changes nothing writes nothing.
        const changedHere = t.groups.some((g) => g.add.length + g.remove.length > 0);
        if (changedHere) lastChangedToken = version.syncToken;
        expect((await stateTags(groupIds[0]))[stateTagKeys(target).syncToken]).toBe(lastChangedToken);
        if (!changedHere) expect(recorder.calls.filter((c) => !/^Describe/.test(c.command))).toEqual([]);

        // At most one authorize and one revoke per group that changed; none for the others.
        for (const g of t.groups) {
          const authorize = recorder.calls.filter((c) => c.command === 'AuthorizeSecurityGroupIngressCommand' && c.input.GroupId === g.groupId).length;
          const revoke = recorder.calls.filter((c) => c.command === 'RevokeSecurityGroupIngressCommand' && c.input.GroupId === g.groupId).length;
          expect(authorize).toBe(g.add.length > 0 ? 1 : 0);
          expect(revoke).toBe(g.remove.length > 0 ? 1 : 0);
        }
        perVersion.push({
          syncToken: version.syncToken,
          authorize: t.writes.authorize,
          revoke: t.writes.revoke,
          changedGroups: t.groups.filter((g) => g.add.length + g.remove.length > 0).length,
        });
      }

      // A repeat run with the same input makes no write call at all.
      recorder.calls.length = 0;
      const again = await reconcile(config, {}, deps(alerts));
      expect(again.targets[0].status).toBe('in-sync');
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
      expect(alerts.events).toEqual([]);
    } finally {
      recorder.remove();
    }
    // The measured numbers, for the report and the benchmark.
    console.info(`replay of ${REPLAY.length} versions over 4 groups: ${JSON.stringify(perVersion)}`);
  });

  it('retries throttled writes with backoff and still writes once per group', async () => {
    const target = uniqueName('throttle').toLowerCase();
    const groupIds = await createGroups(3, () => 1);
    const url = writeFeed(`${target}.json`, ipRangesJson(history[0]));
    const fault = injectFault(ec2, { command: 'AuthorizeSecurityGroupIngressCommand', error: () => serviceError('RequestLimitExceeded', 'Request limit exceeded.', 503), times: 2 });
    const describeFault = injectFault(ec2, { command: 'DescribeSecurityGroupRulesCommand', error: () => serviceError('Throttling', 'Rate exceeded', 400), times: 1 });
    try {
      const result = await reconcile(awsTarget(target, groupIds, url), {}, deps(new RecordingAlerts()));
      expect(result.targets[0].error).toBeUndefined();
      expect(fault.failures).toBe(2);
      expect(describeFault.failures).toBe(1);
      const rules = await ingress(groupIds);
      expect(owned(rules, target)).toHaveLength(history[0].CLOUDFRONT.ipv4.length + history[0].CLOUDFRONT.ipv6.length);
      // Retried calls are the same call: the plan still used one authorize per group.
      expect(result.targets[0].writes.authorize).toBe(result.targets[0].groups.filter((g) => g.add.length > 0).length);
    } finally {
      fault.remove();
      describeFault.remove();
    }
  });

  it('treats rules that another run already added or removed as done', async () => {
    const target = uniqueName('race').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const url = writeFeed(`${target}.json`, ipRangesJson({ ...history[0], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 5), ipv6: [] } }));
    // Another run added one of the rules between our read and our write.
    const racer = injectFault(ec2, { command: 'AuthorizeSecurityGroupIngressCommand', error: () => serviceError('InvalidPermission.Duplicate', 'the specified rule already exists'), times: 1 });
    try {
      const result = await reconcile(awsTarget(target, groupIds, url), {}, deps(new RecordingAlerts()));
      expect(result.targets[0].error).toBeUndefined();
      expect(racer.failures).toBe(1);
      expect(owned(await ingress(groupIds), target)).toHaveLength(5);
    } finally {
      racer.remove();
    }
  });
});

// ---------- broken feeds ----------

describe('a broken feed changes nothing and alerts', () => {
  let target: string;
  let groupIds: string[];
  let url: string;
  let config: IpRangesConfig;
  const good = history[40];

  beforeAll(async () => {
    target = uniqueName('broken').toLowerCase();
    groupIds = await createGroups(4, () => 2);
    url = writeFeed(`${target}.json`, ipRangesJson(good));
    config = awsTarget(target, groupIds, url);
    const first = await reconcile(config, {}, deps(new RecordingAlerts()));
    expect(first.targets[0].error).toBeUndefined();
  });

  const goodText = () => ipRangesJson(good);
  const cases: Array<{ name: string; feed: () => string; options?: () => ReconcileOptions; message: RegExp }> = [
    { name: 'truncated JSON', feed: () => goodText().slice(0, 5000), message: /not valid JSON/ },
    {
      name: 'empty list',
      feed: () => JSON.stringify({ syncToken: '1900000000', createDate: '2030-03-17-17-46-40', prefixes: [], ipv6_prefixes: [] }),
      message: /empty/,
    },
    {
      name: 'bad CIDR',
      feed: () => goodText().replace(good.CLOUDFRONT.ipv4[3], '13.32.0.0/33'),
      message: /13\.32\.0\.0\/33/,
    },
    {
      name: 'md5 mismatch',
      feed: () => ipRangesJson({ ...history[41] }),
      options: () => ({
        notice: { createTime: history[41].createDate, syncToken: history[41].syncToken, md5: md5Hex('something else'), url: 'https://ip-ranges.amazonaws.com/ip-ranges.json' },
      }),
      message: /md5/,
    },
    { name: 'older syncToken', feed: () => ipRangesJson(history[39]), message: /older than the applied/ },
    {
      name: 'syncToken far in the future',
      feed: () => ipRangesJson({ ...history[41], syncToken: String(Math.floor(Date.now() / 1000) + 3 * 86_400) }),
      message: /version \d+ is more than 1 day ahead of the clock/,
    },
    { name: 'missing file', feed: () => '', message: /cannot read|not valid JSON/ },
  ];

  for (const c of cases) {
    it(`${c.name}`, async () => {
      const before = sortKeys(await ingress(groupIds));
      const tagsBefore = await stateTags(groupIds[0]);
      if (c.name === 'missing file') rmSync(new URL(url));
      else writeFeed(`${target}.json`, c.feed());
      const alerts = new RecordingAlerts();
      const recorder = recordCalls(ec2);
      try {
        const result = await reconcile(config, c.options?.() ?? {}, deps(alerts));
        const t = result.targets[0];
        expect(t.status).toBe('failed');
        expect(t.error).toMatch(c.message);
        expect(t.groups).toEqual([]);
        expect(recorder.calls.filter((call) => WRITES.has(call.command))).toEqual([]);
        expect(sortKeys(await ingress(groupIds))).toEqual(before);
        expect(await stateTags(groupIds[0])).toEqual(tagsBefore);
        expect(alerts.events).toHaveLength(1);
        expect(alerts.events[0].kind).toBe('FAILURE');
        expect(alerts.events[0].finding.checkId).toBe('reconcile.source-failed');
        expect(alerts.events[0].finding.resource).toBe(`aws(${url})`);
        expect(alerts.events[0].finding.message).toMatch(c.message);
      } finally {
        recorder.remove();
        writeFeed(`${target}.json`, goodText());
      }
    });
  }

  it('a source with no CIDR in the target\'s IP versions fails the target (IPv6 only for an IPv4 target)', async () => {
    // Arrange: an IPv4-only target, applied once; then the selection holds IPv6 prefixes only.
    const v4Target = uniqueName('family').toLowerCase();
    const v4Groups = await createGroups(1, () => 0);
    const v4Url = writeFeed(`${v4Target}.json`, ipRangesJson({ ...history[0], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 5), ipv6: [] } }));
    const v4Config = awsTarget(v4Target, v4Groups, v4Url, { ipVersions: ['ipv4'] });
    expect((await reconcile(v4Config, {}, deps(new RecordingAlerts()))).targets[0].error).toBeUndefined();
    writeFeed(`${v4Target}.json`, ipRangesJson({ ...history[1], CLOUDFRONT: { ipv4: [], ipv6: history[1].CLOUDFRONT.ipv6 } }));
    const alerts = new RecordingAlerts();
    const recorder = recordCalls(ec2);

    // Act
    let result;
    try {
      result = await reconcile(v4Config, {}, deps(alerts));
    } finally {
      recorder.remove();
    }

    // Assert: failed, naming the source; nothing written.
    const t = result.targets[0];
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/aws\(file:.*\): no IPv4 CIDR among the \d+ it lists/);
    expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
    expect(owned(await ingress(v4Groups), v4Target)).toHaveLength(5);
    expect(alerts.events.map((e) => [e.finding.checkId, e.finding.resource])).toEqual([['reconcile.source-failed', `aws(${v4Url})`]]);
  });

  it('a second source failing keeps the first source from changing anything either', async () => {
    const withStatic = IpRangesSchema.parse({
      targets: [{ ...config.targets[0], sources: [...config.targets[0].sources, { type: 'fastly', url: pathToFileURL(join(dir, 'no-such-fastly.json')).href }] }],
    });
    const alerts = new RecordingAlerts();
    const before = sortKeys(await ingress(groupIds));
    const result = await reconcile(withStatic, {}, deps(alerts));
    expect(result.targets[0].error).toMatch(/fastly/);
    expect(sortKeys(await ingress(groupIds))).toEqual(before);
    expect(alerts.events.map((e) => e.finding.resource)).toEqual([expect.stringMatching(/^fastly\(/)]);
  });
});

// ---------- quota, guard, ordering ----------

describe('guards', () => {
  it('applies nothing and says how many groups are missing when the set does not fit', async () => {
    const target = uniqueName('quota').toLowerCase();
    const groupIds = await createGroups(2, () => 3);
    const url = writeFeed(`${target}.json`, ipRangesJson(history[56]));
    const alerts = new RecordingAlerts();
    const recorder = recordCalls(ec2);
    try {
      const result = await reconcile(awsTarget(target, groupIds, url), {}, deps(alerts));
      const t = result.targets[0];
      expect(t.status).toBe('insufficient-capacity');
      // 219 rules, 2 × 57 free → 105 missing → 2 more groups of 60.
      expect(t.groupsNeeded).toBe(2);
      expect(t.error).toMatch(/2 more groups needed/);
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
      expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.quota']);
    } finally {
      recorder.remove();
    }
  });

  it('counts a reference to a prefix list as its MaxEntries against the group quota', async () => {
    // Arrange: a group that also admits a 50-entry prefix list (not the target's): 10 rules of room under 60.
    const target = uniqueName('plref').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const list = await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-office'), AddressFamily: 'IPv4', MaxEntries: 50 }));
    const listId = list.PrefixList!.PrefixListId!;
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: groupIds[0], IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: listId, Description: 'office' }] }] }),
    );
    const url = writeFeed(`${target}.json`, ipRangesJson({ ...history[0], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 15), ipv6: [] } }));
    const alerts = new RecordingAlerts();

    // Act
    const result = await reconcile(awsTarget(target, groupIds, url), {}, deps(alerts));

    // Assert: 15 rules do not fit in 10; nothing written.
    const t = result.targets[0];
    expect(t.status).toBe('insufficient-capacity');
    expect(t.groupsNeeded).toBe(1);
    expect(t.groups[0]).toMatchObject({ rulesBefore: 50, rulesAfter: 50 });
    expect(owned(await ingress(groupIds), target)).toEqual([]);
    expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.quota']);
  });

  it('holds a large shrink, then applies it when the next version has the same set', async () => {
    const target = uniqueName('shrink').toLowerCase();
    const groupIds = await createGroups(4, () => 0);
    const base = history[56];
    const version = (syncToken: string, ipv4: string[]) => ({ ...base, syncToken, CLOUDFRONT: { ipv4, ipv6: base.CLOUDFRONT.ipv6 } });
    const url = writeFeed(`${target}.json`, ipRangesJson(version('1760000000', base.CLOUDFRONT.ipv4)));
    const config = awsTarget(target, groupIds, url);
    await reconcile(config, {}, deps(new RecordingAlerts()));
    const shrunk = base.CLOUDFRONT.ipv4.slice(0, 100);

    // Version 1 of the shrink: held, alerted, additions would still go in.
    writeFeed(`${target}.json`, ipRangesJson(version('1760000100', [...shrunk, '192.0.2.0/24'])));
    const alerts = new RecordingAlerts();
    const held = await reconcile(config, {}, deps(alerts));
    expect(held.targets[0].held).toBe(true);
    expect(held.targets[0].groups.flatMap((g) => g.remove)).toEqual([]);
    expect(held.targets[0].groups.flatMap((g) => g.add).map((r) => r.cidr)).toEqual(['192.0.2.0/24']);
    expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.removal-held']);
    expect(owned(await ingress(groupIds), target)).toHaveLength(base.CLOUDFRONT.ipv4.length + base.CLOUDFRONT.ipv6.length + 1);
    expect((await stateTags(groupIds[0]))[stateTagKeys(target).held]).toMatch(/@1760000100$/);

    // The same version again (the hourly schedule) is not a confirmation.
    const again = await reconcile(config, {}, deps(new RecordingAlerts()));
    expect(again.targets[0].held).toBe(true);

    // The next version with the same set confirms it.
    writeFeed(`${target}.json`, ipRangesJson(version('1760000200', [...shrunk, '192.0.2.0/24'])));
    const confirmed = await reconcile(config, {}, deps(new RecordingAlerts()));
    expect(confirmed.targets[0].held).toBe(false);
    expect(owned(await ingress(groupIds), target)).toHaveLength(101 + base.CLOUDFRONT.ipv6.length);
    expect((await stateTags(groupIds[0]))[stateTagKeys(target).held]).toBeUndefined();
  });

  it('holds a shrink whose union with the old set does not fit, without a quota alert, and applies it once confirmed', async () => {
    // Arrange: one group of quota 10 full of the target's 10 rules.
    const target = uniqueName('heldfull').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const ipv4 = history[0].CLOUDFRONT.ipv4;
    const feed = (v: HistoryVersion, cidrs: string[]) => ipRangesJson({ ...v, CLOUDFRONT: { ipv4: cidrs, ipv6: [] } });
    const url = writeFeed(`${target}.json`, feed(history[0], ipv4.slice(0, 10)));
    const config = awsTarget(target, groupIds, url, { maxRulesPerGroup: 10 });
    await reconcile(config, {}, deps(new RecordingAlerts()));
    const shrunk = [...ipv4.slice(0, 6), ...ipv4.slice(20, 24)];

    // Act: the next version keeps 6 and adds 4 (40 % removed).
    writeFeed(`${target}.json`, feed(history[1], shrunk));
    const alerts = new RecordingAlerts();
    const held = await reconcile(config, {}, deps(alerts));

    // Assert: held, not a capacity failure; nothing removed; the alert is about the hold only.
    const t = held.targets[0];
    expect(t.status).toBe('held');
    expect(t.error).toBeUndefined();
    expect(t.groupsNeeded).toBeUndefined();
    expect(t.groups.flatMap((g) => [...g.add, ...g.remove])).toEqual([]);
    expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.removal-held']);
    expect(owned(await ingress(groupIds), target).map((r) => r.cidr).sort()).toEqual([...ipv4.slice(0, 10)].sort());

    // The next version with the same set confirms the shrink: removals first, then the new rules.
    writeFeed(`${target}.json`, feed(history[2], shrunk));
    const confirmed = await reconcile(config, {}, deps(new RecordingAlerts()));
    expect(confirmed.targets[0].status).toBe('changes');
    expect(owned(await ingress(groupIds), target).map((r) => r.cidr).sort()).toEqual([...shrunk].sort());
  });

  it('tells how to recover when the applied version lies in the future (recorded before such versions were refused)', async () => {
    const target = uniqueName('future').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const url = writeFeed(`${target}.json`, ipRangesJson({ ...history[0], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 5), ipv6: [] } }));
    const config = awsTarget(target, groupIds, url);
    await reconcile(config, {}, deps(new RecordingAlerts()));
    const tag = stateTagKeys(target).syncToken;
    await ec2.send(new CreateTagsCommand({ Resources: [groupIds[0]], Tags: [{ Key: tag, Value: String(Math.floor(Date.now() / 1000) + 30 * 86_400) }] }));
    writeFeed(`${target}.json`, ipRangesJson({ ...history[1], CLOUDFRONT: { ipv4: history[1].CLOUDFRONT.ipv4.slice(0, 6), ipv6: [] } }));

    const frozen = await reconcile(config, {}, deps(new RecordingAlerts()));

    expect(frozen.targets[0].status).toBe('failed');
    expect(frozen.targets[0].error).toContain(`the applied version is more than 1 day ahead of the clock: delete the tag ${tag} from ${groupIds[0]}`);
    await ec2.send(new DeleteTagsCommand({ Resources: [groupIds[0]], Tags: [{ Key: tag }] }));
    const recovered = await reconcile(config, {}, deps(new RecordingAlerts()));
    expect(recovered.targets[0].status).toBe('changes');
    expect((await stateTags(groupIds[0]))[tag]).toBe(history[1].syncToken);
  });

  it('applies a held shrink at once with force', async () => {
    const target = uniqueName('force').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const url = writeFeed(`${target}.json`, ipRangesJson({ ...history[0], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 10), ipv6: [] } }));
    const config = awsTarget(target, groupIds, url);
    await reconcile(config, {}, deps(new RecordingAlerts()));
    writeFeed(`${target}.json`, ipRangesJson({ ...history[1], CLOUDFRONT: { ipv4: history[0].CLOUDFRONT.ipv4.slice(0, 2), ipv6: [] } }));
    const dry = await reconcile(config, { dryRun: true, force: true }, deps(new RecordingAlerts()));
    expect(dry.targets[0].applied).toBe(false);
    expect(owned(await ingress(groupIds), target)).toHaveLength(10);
    const forced = await reconcile(config, { force: true }, deps(new RecordingAlerts()));
    expect(forced.targets[0].held).toBe(false);
    expect(owned(await ingress(groupIds), target)).toHaveLength(2);
  });
});

// ---------- the Lambda handler: SNS notifications and the schedule ----------

describe('reconcile handler', () => {
  it('applies a notified version, ignores a repeated or older notification, and alerts through SNS', async () => {
    const target = uniqueName('sns').toLowerCase();
    const groupIds = await createGroups(4, () => 1);
    const v1 = history[50];
    const v2 = history[51];
    const url = writeFeed(`${target}.json`, ipRangesJson(v1));
    const sns = new SNSClient(emulatorClientConfig());
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: uniqueName('og-alerts') }));
    // An SQS subscriber reads what reached the topic (faster than moto's whole-state dump).
    const sqs = new SQSClient(emulatorClientConfig());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('og-alerts') }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }));
    const handlerDeps = { ...deps(new SnsAlertPublisher(sns, TopicArn!)), ipRanges: awsTarget(target, groupIds, url) };
    const handler = createReconcileHandler(handlerDeps);
    const snsEvent = (v: HistoryVersion, text: string) => ({
      Records: [
        {
          EventSource: 'aws:sns',
          EventVersion: '1.0',
          Sns: {
            Type: 'Notification',
            TopicArn: 'arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged',
            Subject: null,
            Message: JSON.stringify({ 'create-time': v.createDate, synctoken: v.syncToken, md5: md5Hex(text), url: 'https://ip-ranges.amazonaws.com/ip-ranges.json' }),
          },
        },
      ],
    });

    // The scheduled run applies v1.
    const scheduled = await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events', id: 'x', time: new Date().toISOString(), resources: [], detail: {} });
    expect(scheduled.targets[0].syncToken).toBe(v1.syncToken);

    // The notification of v2 applies v2.
    const v2Text = ipRangesJson(v2);
    writeFeed(`${target}.json`, v2Text);
    const notified = await handler(snsEvent(v2, v2Text));
    expect(notified.targets[0].status).toBe('changes');
    expect((await stateTags(groupIds[0]))[stateTagKeys(target).syncToken]).toBe(v2.syncToken);

    // The same notification again, and the late one of v1: ignored without fetching or writing.
    const recorder = recordCalls(ec2);
    try {
      expect((await handler(snsEvent(v2, v2Text))).targets[0].status).toBe('skipped');
      expect((await handler(snsEvent(v1, ipRangesJson(v1)))).targets[0].status).toBe('skipped');
      expect(recorder.calls.filter((c) => WRITES.has(c.command))).toEqual([]);
    } finally {
      recorder.remove();
    }

    // A notification whose md5 does not match the file: nothing changes, the alert reaches the topic.
    const v3 = history[52];
    writeFeed(`${target}.json`, ipRangesJson(v3));
    const mismatch = await handler(snsEvent(v3, 'not the file'));
    expect(mismatch.targets[0].error).toMatch(/md5/);
    expect((await stateTags(groupIds[0]))[stateTagKeys(target).syncToken]).toBe(v2.syncToken);
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect(received.Messages).toHaveLength(1);
    expect(JSON.parse(received.Messages![0].Body!).Message).toMatch(/reconcile\.source-failed/);

    // An event of another shape is refused (it goes to the DLQ).
    await expect(handler({ hello: 'world' })).rejects.toThrow(/Not a scheduled event or an SNS notification/);
  });
});

// ---------- alerting once: the alert-state table ----------

async function alertStateTable(): Promise<DynamoDbAlertState> {
  const state = new DynamoDbAlertState(new DynamoDBClient(emulatorClientConfig()), uniqueName('og-reconcile-alerts'));
  await state.ensureTable();
  return state;
}

describe('reconcile alerts with an alert-state table', () => {
  it('alerts a broken feed once over two scheduled runs, and once more (RESOLVED) when it is fixed, through SNS', async () => {
    // Arrange: the handler with a real topic (read back through an SQS subscriber) and a real state table.
    const target = uniqueName('once').toLowerCase();
    const groupIds = await createGroups(4, () => 0);
    const good = ipRangesJson(history[40]);
    const url = writeFeed(`${target}.json`, good);
    const sns = new SNSClient(emulatorClientConfig());
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: uniqueName('og-alerts') }));
    const sqs = new SQSClient(emulatorClientConfig());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('og-alerts') }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }));
    const received = async (): Promise<Array<{ subject: string; message: string }>> => {
      const out: Array<{ subject: string; message: string }> = [];
      for (let round = 0; round < 20; round += 1) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (Messages.length === 0) break;
        for (const m of Messages) {
          const envelope = JSON.parse(m.Body!) as { Subject: string; Message: string };
          out.push({ subject: envelope.Subject, message: envelope.Message });
        }
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
      return out;
    };
    const publisher = new SnsAlertPublisher(sns, TopicArn!);
    const handler = createReconcileHandler({
      ...deps(publisher),
      alerting: { publisher, state: await alertStateTable(), reminderHours: 24 },
      ipRanges: awsTarget(target, groupIds, url),
    });
    const tick = () => handler({ 'detail-type': 'Scheduled Event', source: 'aws.events', id: 'x', time: new Date().toISOString(), resources: [], detail: {} });
    const findingId = reconcileFindingId('reconcile.source-failed', target, `aws(${url})`);

    // A healthy run: passing findings are not stored, nothing is sent.
    expect((await tick()).targets[0].status).toBe('changes');
    expect(await received()).toEqual([]);

    // Act + Assert: the feed breaks; two runs fail, one message.
    writeFeed(`${target}.json`, good.slice(0, 5000));
    const first = await tick();
    const second = await tick();
    for (const run of [first, second]) {
      expect(run.targets[0].status).toBe('failed');
      expect(run.targets[0].findings).toContainEqual(expect.objectContaining({ id: findingId, status: 'FAIL', checkId: 'reconcile.source-failed' }));
      expect(run.alertErrors).toBeUndefined();
    }
    const broken = await received();
    expect(broken).toHaveLength(1);
    expect(broken[0].subject).toMatch(/^\[HIGH\] DRIFT reconcile\.source-failed: /);
    expect(broken[0].message).toContain(`Finding id:     ${findingId}`);
    expect(broken[0].message).toMatch(/not valid JSON/);

    // The feed is fixed: exactly one RESOLVED message, then silence.
    writeFeed(`${target}.json`, good);
    const fixed = await tick();
    expect(fixed.targets[0].error).toBeUndefined();
    expect(fixed.targets[0].findings).toContainEqual(expect.objectContaining({ id: findingId, status: 'PASS' }));
    const resolved = await received();
    expect(resolved).toHaveLength(1);
    expect(resolved[0].subject).toMatch(/^\[HIGH\] RESOLVED reconcile\.source-failed: /);
    expect(resolved[0].message).toContain(`Finding id:     ${findingId}`);
    await tick();
    expect(await received()).toEqual([]);
  });

  it('wires the Lambda to the table named by ALERT_STATE_TABLE, and alerts on every run without a table or topic', () => {
    const runtime = {
      config: { alerts: { emails: [], reminderHours: 6 }, ipRanges: awsTarget('wired', ['sg-1'], 'file:///dev/null') } as unknown as Config,
      clients: new AwsClients({ region: 'eu-west-1' }, { DynamoDBClient, EC2Client, SecretsManagerClient }),
      logger: createLogger('origin-guard-reconcile-test'),
      alerts: new RecordingAlerts(),
    };
    const wired = reconcileDeps(runtime, { ALERT_STATE_TABLE: 'alert-state' });
    expect(wired.alerting?.publisher).toBe(runtime.alerts);
    expect(wired.alerting?.state).toBeInstanceOf(DynamoDbAlertState);
    expect((wired.alerting?.state as DynamoDbAlertState).tableName).toBe('alert-state');
    expect(wired.alerting?.reminderHours).toBe(6);
    expect(reconcileDeps(runtime, {}).alerting).toBeUndefined();
    expect(reconcileDeps({ ...runtime, alerts: undefined }, { ALERT_STATE_TABLE: 'alert-state' }).alerting).toBeUndefined();
  });

  it('keeps one state per target sharing a feed, and dry runs neither touch it nor reach the publisher', async () => {
    // Arrange: two targets on one feed, a recording publisher and a real state table.
    const name = uniqueName('shared').toLowerCase();
    const groups = await createGroups(8, () => 0);
    const good = ipRangesJson(history[40]);
    const url = writeFeed(`${name}.json`, good);
    const config = IpRangesSchema.parse({
      targets: ['a', 'b'].map((suffix, i) => ({
        name: `${name}-${suffix}`,
        securityGroupIds: groups.slice(4 * i, 4 * i + 4),
        ports: [443],
        sources: [{ type: 'aws', services: ['CLOUDFRONT'], url }],
      })),
    });
    const publisher = new RecordingAlerts();
    const fallback = new RecordingAlerts();
    const withState: ReconcileDeps = { ...deps(fallback), alerting: { publisher, state: await alertStateTable(), reminderHours: 24 } };
    expect((await reconcile(config, {}, withState)).targets.map((t) => t.status)).toEqual(['changes', 'changes']);
    expect(publisher.events).toEqual([]);
    writeFeed(`${name}.json`, 'not json');

    // Act + Assert: a dry run reports on the fallback port (the CLI's terminal) only.
    await reconcile(config, { dryRun: true }, withState);
    expect(fallback.events.map((e) => e.kind)).toEqual(['FAILURE', 'FAILURE']);
    expect(publisher.events).toEqual([]);

    // The real runs: one NEW per target, then nothing while it lasts.
    await reconcile(config, {}, withState);
    await reconcile(config, {}, withState);
    expect(publisher.events.map((e) => [e.kind, e.finding.id])).toEqual([
      ['NEW', reconcileFindingId('reconcile.source-failed', `${name}-a`, `aws(${url})`)],
      ['NEW', reconcileFindingId('reconcile.source-failed', `${name}-b`, `aws(${url})`)],
    ]);

    // Fixed: one RESOLVED per target.
    writeFeed(`${name}.json`, good);
    publisher.events = [];
    await reconcile(config, {}, withState);
    expect(publisher.events.map((e) => [e.kind, e.finding.status, e.finding.details?.target])).toEqual([
      ['RESOLVED', 'PASS', `${name}-a`],
      ['RESOLVED', 'PASS', `${name}-b`],
    ]);
    expect(fallback.events).toHaveLength(2);
  });
});

// ---------- Konnect egress IPs ----------

describe('konnect source', () => {
  let konnect: FakeKonnect;
  beforeAll(async () => {
    konnect = await startFakeKonnect({ token: 'kpat_reconcile_test_token' });
  });
  afterAll(async () => {
    await konnect.close();
  });

  it('admits the egress IPs of the network, read with the token from Secrets Manager', async () => {
    const secrets = new SecretsManagerClient(emulatorClientConfig());
    const tokenSecretName = uniqueName('konnect/token');
    await secrets.send(new CreateSecretCommand({ Name: tokenSecretName, SecretString: 'kpat_reconcile_test_token' }));
    konnect.setConfigurations([
      konnectConfiguration({ controlPlaneGeo: 'us', groups: [{ networkId: 'net-1', egress: ['71.78.149.75', '91.149.112.244'] }, { networkId: 'net-2', egress: ['51.235.15.121'] }] }),
    ]);
    const target = uniqueName('konnect').toLowerCase();
    const groupIds = await createGroups(1, () => 1);
    const config = IpRangesSchema.parse({
      targets: [{ name: target, securityGroupIds: groupIds, ports: [443], sources: [{ type: 'konnect', region: 'us', networkId: 'net-1', tokenSecretName, apiUrl: konnect.url }] }],
    });
    const feeds = new HttpIpFeeds({ secretsManager: secrets, sleep: async () => {} });
    const result = await reconcile(config, {}, deps(new RecordingAlerts(), feeds));
    expect(result.targets[0].error).toBeUndefined();
    expect(owned(await ingress(groupIds), target).map((r) => r.cidr).sort()).toEqual(['71.78.149.75/32', '91.149.112.244/32']);

    // Konnect down: nothing changes, the alert names the source.
    konnect.setDown(true);
    const alerts = new RecordingAlerts();
    try {
      const down = await reconcile(config, {}, deps(alerts, feeds));
      expect(down.targets[0].error).toMatch(/konnect\(us\/net-1\)/);
      expect(alerts.events[0].finding.resource).toBe('konnect(us/net-1)');
      expect(owned(await ingress(groupIds), target)).toHaveLength(2);
    } finally {
      konnect.setDown(false);
    }
  });
});

// ---------- mode "prefix-list" ----------

describe('prefix-list mode', () => {
  it('keeps the ranges in customer-managed prefix lists referenced by the groups, with one modify per changed list', async () => {
    const target = uniqueName('plist').toLowerCase();
    const groupIds = await createGroups(2, () => 1);
    const v4 = await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-v4'), AddressFamily: 'IPv4', MaxEntries: 60 }));
    const v6 = await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-v6'), AddressFamily: 'IPv6', MaxEntries: 5 }));
    const listIds = [v4.PrefixList!.PrefixListId!, v6.PrefixList!.PrefixListId!];
    const originFacing = (v: HistoryVersion) => ({ ...v, CLOUDFRONT: { ipv4: [], ipv6: [] } });
    const url = writeFeed(`${target}.json`, ipRangesJson(originFacing(history[55])));
    const config = IpRangesSchema.parse({
      // The references count as 60 + 5 rules against each group's quota (as in AWS): a raised quota of 100.
      targets: [{ name: target, mode: 'prefix-list', prefixListIds: listIds, securityGroupIds: groupIds, ports: [443], maxRulesPerGroup: 100, sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url }] }],
    });
    const entries = async (id: string) =>
      ((await ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id }))).Entries ?? []).map((e) => e.Cidr!).sort();
    const recorder = recordCalls(ec2);
    try {
      const first = await reconcile(config, {}, deps(new RecordingAlerts()));
      expect(first.targets[0].error).toBeUndefined();
      expect(await entries(listIds[0])).toEqual([...history[55].CLOUDFRONT_ORIGIN_FACING.ipv4].sort());
      expect(await entries(listIds[1])).toEqual([...history[55].CLOUDFRONT_ORIGIN_FACING.ipv6].sort());
      // Each group references both lists on the port (moto drops the reference's description); its unowned rule stays.
      const rules = await ingress(groupIds);
      for (const g of groupIds) {
        const inGroup = rules.filter((r) => r.groupId === g);
        expect(inGroup.filter((r) => listIds.includes(r.cidr)).map((r) => `${r.cidr} ${r.port}`).sort()).toEqual(listIds.map((id) => `${id} 443`).sort());
        expect(inGroup.filter((r) => !listIds.includes(r.cidr))).toEqual([expect.objectContaining({ port: 22, description: 'origin-guard:other-target:static' })]);
      }
      expect(first.targets[0].writes).toMatchObject({ prefixList: 2, authorize: 2, revoke: 0 });

      // The next version (two IPv4 ranges fewer) changes one list with one call, and nothing else.
      writeFeed(`${target}.json`, ipRangesJson(originFacing(history[56])));
      recorder.calls.length = 0;
      const next = await reconcile(config, {}, deps(new RecordingAlerts()));
      expect(next.targets[0].error).toBeUndefined();
      expect(await entries(listIds[0])).toEqual([...history[56].CLOUDFRONT_ORIGIN_FACING.ipv4].sort());
      const writes = recorder.calls.filter((c) => WRITES.has(c.command) || c.command === 'ModifyManagedPrefixListCommand');
      expect(writes.map((c) => [c.command, c.input.PrefixListId ?? c.input.GroupId ?? c.input.Resources?.[0]])).toEqual([
        ['ModifyManagedPrefixListCommand', listIds[0]],
        ['CreateTagsCommand', groupIds[0]],
      ]);

      // Nothing to do on a repeat run.
      recorder.calls.length = 0;
      expect((await reconcile(config, {}, deps(new RecordingAlerts()))).targets[0].status).toBe('in-sync');
      expect(recorder.calls.filter((c) => WRITES.has(c.command) || c.command === 'ModifyManagedPrefixListCommand')).toEqual([]);
    } finally {
      recorder.remove();
    }
  });

  it('says when the references themselves do not fit a group (they count as the lists\' MaxEntries), changing nothing', async () => {
    const target = uniqueName('plref').toLowerCase();
    const groupIds = await createGroups(1, () => 1);
    const v4 = await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-v4'), AddressFamily: 'IPv4', MaxEntries: 60 }));
    const url = writeFeed(`${target}.json`, ipRangesJson(history[56]));
    const config = IpRangesSchema.parse({
      targets: [
        { name: target, mode: 'prefix-list', prefixListIds: [v4.PrefixList!.PrefixListId!], ipVersions: ['ipv4'], securityGroupIds: groupIds, ports: [443], sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url }] },
      ],
    });
    const alerts = new RecordingAlerts();
    const recorder = recordCalls(ec2);
    try {
      const result = await reconcile(config, {}, deps(alerts));
      const t = result.targets[0];
      expect(t.status).toBe('insufficient-capacity');
      expect(t.groupsNeeded).toBe(0);
      expect(t.error).toMatch(/count as their MaxEntries against .*: 60 = 60, with 1 used by other rules, of 60/);
      expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.quota']);
      expect(recorder.calls.filter((c) => WRITES.has(c.command) || c.command === 'ModifyManagedPrefixListCommand')).toEqual([]);
    } finally {
      recorder.remove();
    }
  });

  it('says how many lists are missing when the entries do not fit', async () => {
    const target = uniqueName('plfull').toLowerCase();
    const groupIds = await createGroups(1, () => 0);
    const small = await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-small'), AddressFamily: 'IPv4', MaxEntries: 20 }));
    const url = writeFeed(`${target}.json`, ipRangesJson(history[56]));
    const config = IpRangesSchema.parse({
      targets: [
        { name: target, mode: 'prefix-list', prefixListIds: [small.PrefixList!.PrefixListId!], ipVersions: ['ipv4'], securityGroupIds: groupIds, ports: [443], sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url }] },
      ],
    });
    const alerts = new RecordingAlerts();
    const result = await reconcile(config, {}, deps(alerts));
    expect(result.targets[0].status).toBe('insufficient-capacity');
    expect(result.targets[0].notes.join(' ')).toMatch(/26 IPv4 missing\).*Add 2 more prefix lists/);
    expect(alerts.events.map((e) => e.finding.checkId)).toEqual(['reconcile.quota']);
  });
});
