/**
 * Section 1: replays the 57 real versions of CloudFront's ranges against moto_server, through origin-guard's
 * reconcile (the core + the EC2 adapter the Lambda uses) and through a naive baseline written here, on
 * separate security groups of the same emulator. Calls are counted on the real EC2 clients (SDK middleware).
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateVpcCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { IpRangesSchema } from '../lambdas/config.ts';
import { canonicalCidr } from '../lambdas/core/cidr.ts';
import { Ec2SecurityGroupStore } from '../lambdas/adapters/ec2-security-groups.ts';
import { HttpIpFeeds } from '../lambdas/adapters/ip-feeds.ts';
import { silentLog, systemClock, type AlertEvent, type AlertPort } from '../lambdas/core/ports.ts';
import { reconcile, type ReconcileDeps } from '../lambdas/core/reconcile.ts';
import { canonicalSet, ipRangesJson, minus, type CloudFrontService, type HistoryVersion } from './lib/fixtures.ts';
import { CallRecorder, instrumentClient, round, type CallRecord, type CallSink } from './lib/instrument.ts';

export const PORT = 443;
export const QUOTA = 60;

export interface ReplaySpec {
  /** Target name (also in rule descriptions). */
  name: string;
  service: CloudFrontService;
  groups: number;
}

export const REPLAYS: ReplaySpec[] = [
  { name: 'origin-facing', service: 'CLOUDFRONT_ORIGIN_FACING', groups: 1 },
  { name: 'cloudfront', service: 'CLOUDFRONT', groups: 4 },
];

export interface OursRow {
  status: string;
  adds: number;
  removes: number;
  /** Rules added + removed, counted in the write requests sent (not taken from the plan). */
  ruleOps: number;
  reads: number;
  writes: number;
  /** AuthorizeSecurityGroupIngress + RevokeSecurityGroupIngress calls. */
  ruleWriteCalls: number;
  /** CreateTags + DeleteTags calls (the applied syncToken and a held shrink, on the first group). */
  tagWriteCalls: number;
  changedGroups: number;
  /** The most rule write calls any one group received in this version. */
  maxRuleWritesPerGroup: number;
  wallMs: number;
  /** Time inside the EC2 calls (SDK + emulator); the rest of wallMs is reading the feed, planning, bookkeeping. */
  callMs: number;
  calls: Record<string, number>;
  notes: string[];
}

export interface NaiveRow {
  ruleOps: number;
  reads: number;
  writes: number;
  wallMs: number;
  callMs: number;
}

export interface VersionRow {
  index: number;
  syncToken: string;
  createDate: string;
  /** Rules the version asks for (distinct canonical CIDRs × 1 port). */
  desired: number;
  /** Rules that truly changed since the previous version (the start is empty groups). */
  lowerBound: { add: number; remove: number; total: number };
  ours: OursRow;
  naive: NaiveRow;
  /** Rule write calls (Authorize/Revoke) above 2 on a changed group, or any on an unchanged group. */
  groupViolations: string[];
  /** Set when no rule changed in this version and ours still sent a write call (any EC2 write): which, and why. */
  unchangedVersionWrites?: string;
}

export interface ReplayTotals {
  versions: number;
  versionsChangingNothing: number;
  lowerBound: number;
  ours: { ruleOps: number; reads: number; writes: number; ruleWriteCalls: number; tagWriteCalls: number; calls: number; wallMs: number; callMs: number };
  naive: { ruleOps: number; reads: number; writes: number; calls: number; wallMs: number; callMs: number };
  /** naive / ours. */
  ratio: { ruleOps: number; writes: number; calls: number };
  /** Versions with no rule change (lower bound 0) on which ours still sent a write, and why. */
  writesOnUnchangedVersions: { rule: number; tag: number; versions: number[] };
}

export interface ReplayResult {
  spec: ReplaySpec;
  maxRemovalFraction: number;
  rows: VersionRow[];
  totals: ReplayTotals;
  /** Every version left exactly the desired rules (ours and naive), within the quota: else what was wrong. */
  stateProblems: string[];
}

const RULE_WRITES = new Set(['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress']);
const TAG_WRITES = new Set(['ec2:CreateTags', 'ec2:DeleteTags']);

function permissionRules(perms: readonly IpPermission[] | undefined): number {
  return (perms ?? []).reduce((n, p) => n + (p.IpRanges?.length ?? 0) + (p.Ipv6Ranges?.length ?? 0) + (p.PrefixListIds?.length ?? 0), 0);
}

/** Rules a write call added or removed, from its request. */
function rulesInCall(call: CallRecord): { add: number; remove: number } {
  if (call.name === 'ec2:AuthorizeSecurityGroupIngress') return { add: permissionRules(call.input?.IpPermissions), remove: 0 };
  if (call.name === 'ec2:RevokeSecurityGroupIngress') {
    const ids = call.input?.SecurityGroupRuleIds as string[] | undefined;
    return { add: 0, remove: ids?.length ?? permissionRules(call.input?.IpPermissions) };
  }
  return { add: 0, remove: 0 };
}

function ruleCounts(sink: CallSink): { add: number; remove: number } {
  let add = 0;
  let remove = 0;
  for (const c of sink.calls) {
    const r = rulesInCall(c);
    add += r.add;
    remove += r.remove;
  }
  return { add, remove };
}

// ---------- the naive baseline ----------

/**
 * Revoke every rule of every group, then authorize the whole new set, filling the groups in order up to the
 * quota ("spread naively"). One DescribeSecurityGroups, one revoke per non-empty group, one authorize per
 * group filled. Reads the same file:// feed.
 */
async function naiveApply(ec2: EC2Client, groupIds: string[], feedPath: string, service: CloudFrontService): Promise<void> {
  const file = JSON.parse(await readFile(feedPath, 'utf8')) as {
    prefixes: Array<{ ip_prefix: string; service: string }>;
    ipv6_prefixes: Array<{ ipv6_prefix: string; service: string }>;
  };
  const wanted = [
    ...file.prefixes.filter((p) => p.service === service).map((p) => ({ v6: false, cidr: p.ip_prefix })),
    ...file.ipv6_prefixes.filter((p) => p.service === service).map((p) => ({ v6: true, cidr: p.ipv6_prefix })),
  ];
  const { SecurityGroups = [] } = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }));
  for (const group of SecurityGroups) {
    const perms: IpPermission[] = (group.IpPermissions ?? [])
      .map((p) => ({
        IpProtocol: p.IpProtocol,
        FromPort: p.FromPort,
        ToPort: p.ToPort,
        IpRanges: p.IpRanges?.length ? p.IpRanges.map((r) => ({ CidrIp: r.CidrIp })) : undefined,
        Ipv6Ranges: p.Ipv6Ranges?.length ? p.Ipv6Ranges.map((r) => ({ CidrIpv6: r.CidrIpv6 })) : undefined,
      }))
      .filter((p) => p.IpRanges || p.Ipv6Ranges);
    if (perms.length > 0) await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: group.GroupId, IpPermissions: perms }));
  }
  for (let k = 0; k < groupIds.length && k * QUOTA < wanted.length; k++) {
    const chunk = wanted.slice(k * QUOTA, (k + 1) * QUOTA);
    const v4 = chunk.filter((r) => !r.v6).map((r) => ({ CidrIp: r.cidr, Description: 'naive' }));
    const v6 = chunk.filter((r) => r.v6).map((r) => ({ CidrIpv6: r.cidr, Description: 'naive' }));
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupIds[k],
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: PORT, ToPort: PORT, IpRanges: v4.length ? v4 : undefined, Ipv6Ranges: v6.length ? v6 : undefined }],
      }),
    );
  }
}

// ---------- the replay ----------

export interface ReplayContext {
  endpoint: string;
  /** A temporary directory for the feeds. */
  dir: string;
  history: HistoryVersion[];
  log?: (line: string) => void;
}

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'eu-west-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  maxAttempts: 3,
});

class CountingAlerts implements AlertPort {
  events: AlertEvent[] = [];
  async publish(event: AlertEvent) {
    this.events.push(event);
  }
}

/** Canonical CIDRs of the ingress rules on `groupIds` whose description starts with `prefix` (or all), per group. */
async function observedRules(ec2: EC2Client, groupIds: string[], prefix?: string): Promise<{ all: string[]; perGroup: Map<string, number> }> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }], MaxResults: 1000 }));
  const rules = (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress && (prefix === undefined || r.Description?.startsWith(prefix)));
  const perGroup = new Map<string, number>();
  // Per family, as AWS counts the rules quota (IPv4 and IPv6 rules each up to the quota in one group).
  for (const r of rules) {
    const key = `${r.GroupId!} ${r.CidrIpv6 ? 'IPv6' : 'IPv4'}`;
    perGroup.set(key, (perGroup.get(key) ?? 0) + 1);
  }
  return { all: rules.map((r) => (r.CidrIpv4 ?? r.CidrIpv6)!), perGroup };
}

function sameSet(list: string[], set: ReadonlySet<string>, canonical: (c: string) => string): boolean {
  const got = new Set(list.map(canonical));
  return got.size === set.size && list.length === set.size && [...set].every((c) => got.has(c));
}

export async function runReconcileReplays(ctx: ReplayContext): Promise<ReplayResult[]> {
  const canonical = (c: string) => canonicalCidr(c) ?? c;
  const setup = new EC2Client(clientConfig(ctx.endpoint));
  const vpcId = (await setup.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }))).Vpc!.VpcId!;
  const results: ReplayResult[] = [];

  for (const spec of REPLAYS) {
    const log = ctx.log ?? (() => {});
    log(`reconcile replay: ${spec.service} over ${spec.groups} group(s), ${ctx.history.length} versions`);
    const createGroups = async (kind: string) => {
      const ids: string[] = [];
      for (let i = 0; i < spec.groups; i++) {
        const out = await setup.send(new CreateSecurityGroupCommand({ GroupName: `bench-${spec.name}-${kind}-${i}`, Description: `bench ${kind}`, VpcId: vpcId }));
        ids.push(out.GroupId!);
      }
      return ids;
    };
    const oursGroups = await createGroups('ours');
    const naiveGroups = await createGroups('naive');

    // Separate clients: the counts of one never include the other's calls (or the verification reads).
    const recorder = new CallRecorder();
    const oursEc2 = new EC2Client(clientConfig(ctx.endpoint));
    const naiveEc2 = new EC2Client(clientConfig(ctx.endpoint));
    instrumentClient(oursEc2, 'ec2', recorder);
    instrumentClient(naiveEc2, 'ec2', recorder);

    const feedPath = join(ctx.dir, `${spec.name}-ip-ranges.json`);
    writeFileSync(feedPath, ipRangesJson(ctx.history[0]));
    const config = IpRangesSchema.parse({
      targets: [{ name: spec.name, securityGroupIds: oursGroups, ports: [PORT], sources: [{ type: 'aws', services: [spec.service], url: pathToFileURL(feedPath).href }] }],
    });
    const target = config.targets[0];
    // Built once, as the Lambda does per cold start.
    const deps: ReconcileDeps = {
      feeds: new HttpIpFeeds(),
      groups: new Ec2SecurityGroupStore(oursEc2, { clock: systemClock }),
      alerts: new CountingAlerts(),
      clock: systemClock,
      log: silentLog,
    };

    const rows: VersionRow[] = [];
    const stateProblems: string[] = [];
    let previous = new Set<string>();
    let applied = new Set<string>();
    const ownerPrefix = `origin-guard:${spec.name}:`;

    for (const [index, version] of ctx.history.entries()) {
      writeFileSync(feedPath, ipRangesJson(version));
      const desired = canonicalSet(version, spec.service);
      const lowerBound = { add: minus(desired, previous), remove: minus(previous, desired), total: 0 };
      lowerBound.total = lowerBound.add + lowerBound.remove;

      // Ours.
      const ours = await recorder.measure(() => reconcile(config, {}, deps));
      const t = ours.value.targets[0];
      const counted = ruleCounts(ours.sink);
      const planned = { add: t.groups.reduce((n, g) => n + g.add.length, 0), remove: t.groups.reduce((n, g) => n + g.remove.length, 0) };
      const notes: string[] = [];
      if (t.error) notes.push(t.error.replace(/^target "[^"]+": /, ''));
      if (t.held) notes.push('removals held by maxRemovalFraction');
      if (counted.add !== planned.add || counted.remove !== planned.remove) {
        stateProblems.push(`${spec.name} v${index}: requests carried +${counted.add}/-${counted.remove} rules, the plan said +${planned.add}/-${planned.remove}`);
      }
      const ruleWriteCalls = ours.sink.calls.filter((c) => RULE_WRITES.has(c.name)).length;
      const tagWriteCalls = ours.sink.calls.filter((c) => TAG_WRITES.has(c.name)).length;
      const changedGroups = t.groups.filter((g) => g.add.length + g.remove.length > 0);

      const groupViolations: string[] = [];
      let maxRuleWritesPerGroup = 0;
      for (const g of t.groups) {
        const calls = ours.sink.calls.filter((c) => RULE_WRITES.has(c.name) && c.input?.GroupId === g.groupId).length;
        maxRuleWritesPerGroup = Math.max(maxRuleWritesPerGroup, calls);
        const changed = g.add.length + g.remove.length > 0;
        if (changed && calls > 2) groupViolations.push(`${calls} rule write calls on changed group ${g.groupId}`);
        if (!changed && calls > 0) groupViolations.push(`${calls} rule write calls on unchanged group ${g.groupId}`);
      }
      let unchangedVersionWrites: string | undefined;
      if (lowerBound.total === 0 && ours.sink.writes > 0) {
        const what = Object.entries(ours.sink.byName())
          .filter(([, n]) => n > 0)
          .filter(([name]) => !name.startsWith('ec2:Describe'))
          .map(([name, n]) => `${n} ${name.slice(4)}`)
          .join(' + ');
        const heldBefore = index > 0 && rows[index - 1].ours.notes.some((n) => n.includes('held'));
        const why = ruleWriteCalls > 0 && heldBefore ? 'applies the shrink held at the previous version' : ruleWriteCalls === 0 ? 'records the new syncToken only' : 'unexpected';
        unchangedVersionWrites = `${what} (${why})`;
      }

      // Ours must leave exactly the desired set (or, when it refused the version, what it had).
      // A held shrink applies the additions and keeps every owned rule.
      if (t.applied) applied = t.held ? new Set([...applied, ...desired]) : desired;
      const oursState = await observedRules(setup, oursGroups, ownerPrefix);
      if (!sameSet(oursState.all, applied, canonical)) stateProblems.push(`${spec.name} v${index}: ours left ${oursState.all.length} owned rules, expected ${applied.size}`);
      for (const [g, n] of oursState.perGroup) if (n > QUOTA) stateProblems.push(`${spec.name} v${index}: ours put ${n} ${g.split(' ')[1]} rules in ${g.split(' ')[0]}`);

      // Naive.
      const naive = await recorder.measure(() => naiveApply(naiveEc2, naiveGroups, feedPath, spec.service));
      const naiveCounted = ruleCounts(naive.sink);
      const naiveState = await observedRules(setup, naiveGroups);
      if (!sameSet(naiveState.all, desired, canonical)) stateProblems.push(`${spec.name} v${index}: naive left ${naiveState.all.length} rules, expected ${desired.size}`);

      rows.push({
        index,
        syncToken: version.syncToken,
        createDate: version.createDate,
        desired: desired.size,
        lowerBound,
        ours: {
          status: t.status,
          adds: counted.add,
          removes: counted.remove,
          ruleOps: counted.add + counted.remove,
          reads: ours.sink.reads,
          writes: ours.sink.writes,
          ruleWriteCalls,
          tagWriteCalls,
          changedGroups: changedGroups.length,
          maxRuleWritesPerGroup,
          wallMs: round(ours.wallMs, 2),
          callMs: round(ours.sink.ms, 2),
          calls: ours.sink.byName(),
          notes,
        },
        naive: {
          ruleOps: naiveCounted.add + naiveCounted.remove,
          reads: naive.sink.reads,
          writes: naive.sink.writes,
          wallMs: round(naive.wallMs, 2),
          callMs: round(naive.sink.ms, 2),
        },
        groupViolations,
        ...(unchangedVersionWrites ? { unchangedVersionWrites } : {}),
      });
      previous = desired;
    }

    const sum = (f: (r: VersionRow) => number) => rows.reduce((n, r) => n + f(r), 0);
    const unchanged = rows.filter((r) => r.lowerBound.total === 0);
    const oursCalls = sum((r) => r.ours.reads + r.ours.writes);
    const naiveCalls = sum((r) => r.naive.reads + r.naive.writes);
    const totals: ReplayTotals = {
      versions: rows.length,
      versionsChangingNothing: unchanged.length,
      lowerBound: sum((r) => r.lowerBound.total),
      ours: {
        ruleOps: sum((r) => r.ours.ruleOps),
        reads: sum((r) => r.ours.reads),
        writes: sum((r) => r.ours.writes),
        ruleWriteCalls: sum((r) => r.ours.ruleWriteCalls),
        tagWriteCalls: sum((r) => r.ours.tagWriteCalls),
        calls: oursCalls,
        wallMs: round(sum((r) => r.ours.wallMs)),
        callMs: round(sum((r) => r.ours.callMs)),
      },
      naive: {
        ruleOps: sum((r) => r.naive.ruleOps),
        reads: sum((r) => r.naive.reads),
        writes: sum((r) => r.naive.writes),
        calls: naiveCalls,
        wallMs: round(sum((r) => r.naive.wallMs)),
        callMs: round(sum((r) => r.naive.callMs)),
      },
      ratio: { ruleOps: 0, writes: 0, calls: 0 },
      writesOnUnchangedVersions: {
        rule: unchanged.reduce((n, r) => n + r.ours.ruleWriteCalls, 0),
        tag: unchanged.reduce((n, r) => n + r.ours.tagWriteCalls, 0),
        versions: unchanged.filter((r) => r.ours.writes > 0).map((r) => r.index),
      },
    };
    const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : Infinity) : round(a / b, 1));
    totals.ratio = {
      ruleOps: ratio(totals.naive.ruleOps, totals.ours.ruleOps),
      writes: ratio(totals.naive.writes, totals.ours.writes),
      calls: ratio(naiveCalls, oursCalls),
    };
    results.push({ spec, maxRemovalFraction: target.maxRemovalFraction, rows, totals, stateProblems });
    log(
      `  ours ${totals.ours.ruleOps} rule ops (lower bound ${totals.lowerBound}), ${totals.ours.calls} calls; ` +
        `naive ${totals.naive.ruleOps} rule ops, ${totals.naive.calls} calls; ${stateProblems.length} state problems`,
    );
    oursEc2.destroy();
    naiveEc2.destroy();
  }
  setup.destroy();
  return results;
}

// ---------- adoption (issue 12) ----------

export interface AdoptionResult {
  /** Hand-made rules (description "CloudFront") for exactly the desired ranges, plus unowned neighbours. */
  handMade: number;
  desired: number;
  /** Rules added + removed in the write requests: what truly changes is nothing, so the goal is 0. */
  ruleOps: number;
  /** Rules whose description ModifySecurityGroupRules rewrote. */
  adopted: number;
  writeCalls: Record<string, number>;
  /** `InvalidPermission.Duplicate` / `RulesPerSecurityGroupLimitExceeded` answers seen. */
  errors: string[];
  /** Status of a second run (in-sync expected) and its write calls (0 expected). */
  secondRun: { status: string; writes: number };
  wallMs: number;
}

/**
 * A group migrated from the public SG-updater sample: the latest CLOUDFRONT_ORIGIN_FACING ranges already
 * present under the description "CloudFront", the group otherwise full. `reconcile --adopt` must take them
 * over in place (no add, no remove, no capacity), and then have nothing to do.
 */
export async function runAdoptionReplay(ctx: ReplayContext): Promise<AdoptionResult> {
  const setup = new EC2Client(clientConfig(ctx.endpoint));
  const vpcId = (await setup.send(new CreateVpcCommand({ CidrBlock: '10.41.0.0/16' }))).Vpc!.VpcId!;
  const groupId = (await setup.send(new CreateSecurityGroupCommand({ GroupName: `bench-adopt-${Date.now()}`, Description: 'bench adoption', VpcId: vpcId }))).GroupId!;
  const version = ctx.history[ctx.history.length - 1];
  const ranges = [...canonicalSet(version, 'CLOUDFRONT_ORIGIN_FACING')];
  const v4 = ranges.filter((c) => !c.includes(':'));
  const v6 = ranges.filter((c) => c.includes(':'));
  await setup.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: PORT,
          ToPort: PORT,
          IpRanges: v4.map((CidrIp) => ({ CidrIp, Description: 'CloudFront' })),
          ...(v6.length ? { Ipv6Ranges: v6.map((CidrIpv6) => ({ CidrIpv6, Description: 'CloudFront' })) } : {}),
        },
        // The rest of the IPv4 quota: office ranges on SSH, so that re-adding the set could not fit.
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: Array.from({ length: QUOTA - v4.length }, (_, i) => ({ CidrIp: `10.41.${i}.0/24`, Description: 'office' })) },
      ],
    }),
  );
  const feedPath = join(ctx.dir, 'adoption-ip-ranges.json');
  writeFileSync(feedPath, ipRangesJson(version));
  const config = IpRangesSchema.parse({
    targets: [{ name: 'adoption', securityGroupIds: [groupId], ports: [PORT], ipVersions: ['ipv4', 'ipv6'], adopt: true, sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url: pathToFileURL(feedPath).href }] }],
  });
  const recorder = new CallRecorder();
  const ec2 = new EC2Client(clientConfig(ctx.endpoint));
  instrumentClient(ec2, 'ec2', recorder);
  const errors: string[] = [];
  ec2.middlewareStack.add(
    (next: any) => async (args: any) => {
      try {
        return await next(args);
      } catch (error) {
        errors.push((error as Error).name);
        throw error;
      }
    },
    { step: 'initialize', name: 'bench-adoption-errors' },
  );
  const deps: ReconcileDeps = { feeds: new HttpIpFeeds(), groups: new Ec2SecurityGroupStore(ec2, { clock: systemClock }), alerts: new CountingAlerts(), clock: systemClock, log: silentLog };
  const first = await recorder.measure(() => reconcile(config, {}, deps));
  const t = first.value.targets[0];
  const counted = ruleCounts(first.sink);
  const writeCalls = Object.fromEntries(Object.entries(first.sink.byName()).filter(([name, n]) => n > 0 && !name.startsWith('ec2:Describe')));
  const second = await recorder.measure(() => reconcile(config, {}, deps));
  const result: AdoptionResult = {
    handMade: ranges.length,
    desired: ranges.length,
    ruleOps: counted.add + counted.remove,
    adopted: t.groups.reduce((n, g) => n + (g.adopt?.length ?? 0), 0),
    writeCalls,
    errors: t.error ? [...errors, t.error] : errors,
    secondRun: { status: second.value.targets[0].status, writes: second.sink.writes },
    wallMs: round(first.wallMs, 2),
  };
  ctx.log?.(`reconcile adoption: ${result.adopted} of ${result.handMade} hand-made rules adopted, ${result.ruleOps} rule ops, second run ${result.secondRun.status}`);
  ec2.destroy();
  setup.destroy();
  return result;
}
