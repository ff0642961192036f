/**
 * Reconcile: load every source of a target, order by AWS syncToken, plan, apply (unless dry-run), remember
 * the applied version. One function for the Lambda (schedule, SNS) and the CLI. Collaborators are ports:
 * nothing here talks to AWS or the network.
 *
 * Each target's run yields findings (FAIL, and PASS for the checks it got far enough to evaluate) with ids
 * stable per check, target and source. With an alert-state table they go through the audit's state machine
 * (`applyAlerts`): one alert when a problem starts, one when it is gone, reminders in between.
 */
import type { IpRangesConfig, IpRangeTargetConfig, IpSourceConfig } from '../config.ts';
import { applyAlerts, failureFinding, type AlertingDeps } from './alerts.ts';
import { describeError, SourceError } from './errors.ts';
import {
  checkSyncTokenNotAhead,
  compareSyncTokens,
  isSyncTokenAhead,
  parseAwsIpRanges,
  parseAzureServiceTags,
  parseCloudflareLists,
  parseFastlyList,
  parseKonnectEgress,
  parseStaticCidrs,
  requireFamilies,
  sourceLabel,
  sourceName,
  verifyAgainstNotice,
  type IpSpaceChangedNotice,
  type KonnectEgressView,
  type SourceRanges,
} from './ip-sources.ts';
import type { AlertPort, Clock, Finding, LogPort, Severity } from './ports.ts';
import { LeaseHeldError } from './errors.ts';
import { leaseKey, type Lease, type LeasePort } from './lease.ts';
import type { IpFamily } from './cidr.ts';
import { planTarget, type FamilyUse, type ObservedRule, type PlannedRule, type PlanStatus, type PrefixListInfo, type RulePlan } from './range-planner.ts';

// ---------- ports ----------

export type KonnectSourceConfig = Extract<IpSourceConfig, { type: 'konnect' }>;

export interface IpFeedPort {
  /** The body at an `https://` or `file://` URL, bounded in time and size; failures are SourceErrors naming `source`. */
  fetchText(url: string, source: string): Promise<string>;
  /** Every cloud-gateway configuration visible to the source's token (all pages). */
  konnectConfigurations(config: KonnectSourceConfig, source: string): Promise<KonnectEgressView[]>;
}

/** What origin-guard remembers per target, in AWS (tags on the target's first group), never on local disk. */
export interface TargetState {
  /** The last applied AWS syncToken. */
  syncToken?: string;
  /**
   * A shrink held by the removal guard: the shrunken set's fingerprint and the version it came with; for sources
   * without versions, when it was first seen (ISO time) and in how many runs (it is confirmed only after
   * `removalGuardHours` and at least two runs).
   */
  held?: { fingerprint: string; syncToken?: string; since?: string; runs?: number };
}

export interface ObservedTarget {
  /** Ingress rules of every group of the target (and, in prefix-list mode, the lists' entries). */
  rules: ObservedRule[];
  state: TargetState;
  /** Prefix-list mode: the target's lists. */
  prefixLists?: PrefixListInfo[];
}

export interface ApplyReport {
  authorizeCalls: number;
  revokeCalls: number;
  /** ModifyManagedPrefixList calls (prefix-list mode). */
  prefixListCalls?: number;
  /** ModifySecurityGroupRules calls (adoption: descriptions rewritten). */
  modifyCalls?: number;
}

export interface SecurityGroupStorePort {
  read(target: IpRangeTargetConfig): Promise<ObservedTarget>;
  /** Additions before removals (except groups marked `removeFirst`), one authorize and one revoke per group at most. */
  apply(target: IpRangeTargetConfig, plan: RulePlan): Promise<ApplyReport>;
  /** Writes what changed between `previous` and `next`; returns the number of write calls. */
  writeState(target: IpRangeTargetConfig, next: TargetState, previous: TargetState): Promise<number>;
}

export interface ReconcileDeps {
  feeds: IpFeedPort;
  groups: SecurityGroupStorePort;
  /** Without `alerting` (or on a dry run): every failing finding is published here as a FAILURE, on every run. */
  alerts: AlertPort;
  /**
   * With an alert-state table: a failure alerts once (NEW), again as a reminder, and once when it is gone
   * (RESOLVED), through `alerting.publisher`. Dry runs never touch the state.
   */
  alerting?: AlertingDeps;
  clock: Clock;
  log: LogPort;
  /**
   * One writer per target: a real run takes `leaseKey.reconcileTarget(name)` before it reads, and checks it
   * right before each write, so that the CLI and the Lambda never interleave their plans or move the recorded
   * version backwards. Without it (tests, dry runs) nothing is leased.
   */
  leases?: LeasePort;
}

/** How long a reconcile run holds its target: the Lambda's 5-minute timeout and a margin. */
export const RECONCILE_LEASE_MS = 6 * 60_000;

export interface ReconcileOptions {
  /** Only this target. */
  target?: string;
  dryRun?: boolean;
  /** Apply removals beyond `maxRemovalFraction`. */
  force?: boolean;
  /** Set when an `AmazonIpSpaceChanged` notification triggered the run: only targets with an AWS source run. */
  notice?: IpSpaceChangedNotice;
  /** Take ownership of identical hand-made rules even where the target's `adopt` is off (`reconcile --adopt`). */
  adopt?: boolean;
}

// ---------- result (the `--json` contract) ----------

export interface RuleView {
  cidr: string;
  protocol: string;
  fromPort: number;
  toPort: number;
  /** The source label from the rule's description (`aws`, `cloudflare`, ...). */
  source: string;
}

export interface GroupResult {
  groupId: string;
  add: RuleView[];
  remove: RuleView[];
  rulesAfter: number;
  rulesBefore: number;
  /** `maxRulesPerGroup`, or a prefix list's MaxEntries. */
  quota?: number;
  /** Unowned rules identical to desired ones whose description is rewritten to origin-guard's (adoption). */
  adopt?: RuleView[];
  /** Unowned rules that already admit a desired range (adopted or not). */
  matchedUnowned?: number;
  /** Quota use per family (AWS counts IPv4 and IPv6 rules separately; a reference counts in both). */
  families?: Record<IpFamily, FamilyUse>;
}

export type TargetStatus = PlanStatus | 'skipped' | 'failed';

export interface TargetResult {
  name: string;
  groups: GroupResult[];
  held: boolean;
  /** `in-sync`, `changes`, `held`, `insufficient-capacity`, `skipped` (older or equal version), `failed`. */
  status: TargetStatus;
  /** Whether the changes were made (false on dry-run, skipped or failed runs). */
  applied: boolean;
  dryRun: boolean;
  /** Whether identical hand-made rules were adopted (the target's `adopt`, or `--adopt`). */
  adopt: boolean;
  maxRulesPerGroup: number;
  /** The AWS version this run planned for, and the one applied before it. */
  syncToken?: string;
  previousSyncToken?: string;
  groupsNeeded?: number;
  notes: string[];
  /** EC2 write calls this run made for the target. */
  writes: { authorize: number; revoke: number; tags: number; prefixList: number; modify: number };
  /** Present when a source failed or the change could not be made; nothing was changed then. */
  error?: string;
  /**
   * The reconcile checks this run evaluated: FAIL for each problem, PASS for each check that got far enough
   * to pass (a check not reached, e.g. the quota when a source failed, has no finding).
   */
  findings: Finding[];
}

export interface ReconcileResult {
  targets: TargetResult[];
  /** Alerts that could not be sent or recorded (their state was put back: the next run retries them). */
  alertErrors?: string[];
}

/**
 * The id of a reconcile finding: stable per check and target (and source, for source failures), so that the
 * alert state of one target never answers for another one sharing the same feed.
 */
export function reconcileFindingId(checkId: string, target: string, source?: string): string {
  return `${checkId}:ip-ranges-target:${target}${source === undefined ? '' : `:${source}`}`;
}

export class UnknownTargetError extends Error {
  override name = 'UnknownTargetError';
}

// ---------- loading sources ----------

interface LoadedSource extends SourceRanges {
  /** Raw body of an AWS source, for the md5 check against a notification. */
  body?: string;
}

async function loadSource(source: IpSourceConfig, feeds: IpFeedPort, notice: IpSpaceChangedNotice | undefined, now: Date): Promise<LoadedSource> {
  const name = sourceName(source);
  const label = sourceLabel(source);
  switch (source.type) {
    case 'aws': {
      const body = await feeds.fetchText(source.url, name);
      const parsed = parseAwsIpRanges(body, { services: source.services, regions: source.regions }, name);
      checkSyncTokenNotAhead(parsed.syncToken, now, name);
      if (notice) verifyAgainstNotice(body, parsed.syncToken, notice, name);
      return { ...parsed, label };
    }
    case 'cloudflare': {
      const [v4, v6] = await Promise.all([feeds.fetchText(source.urlV4, name), feeds.fetchText(source.urlV6, name)]);
      return { source: name, label, cidrs: parseCloudflareLists(v4, v6, name) };
    }
    case 'fastly':
      return { source: name, label, cidrs: parseFastlyList(await feeds.fetchText(source.url, name), name) };
    case 'azure-frontdoor':
      return { source: name, label, cidrs: parseAzureServiceTags(await feeds.fetchText(source.url, name), source.serviceTag, name) };
    case 'konnect': {
      const configurations = await feeds.konnectConfigurations(source, name);
      return { source: name, label, cidrs: parseKonnectEgress(configurations, { networkId: source.networkId, controlPlaneId: source.controlPlaneId }, name) };
    }
    case 'static':
      return { source: name, label, cidrs: parseStaticCidrs(source.cidrs, name) };
  }
}

/** Within one run every target reads a URL once (the AWS file is 2 MB and often shared). */
function memoizeFeeds(feeds: IpFeedPort): IpFeedPort {
  const texts = new Map<string, Promise<string>>();
  return {
    fetchText(url, source) {
      let text = texts.get(url);
      if (!text) {
        text = feeds.fetchText(url, source);
        texts.set(url, text);
      }
      return text;
    },
    konnectConfigurations: (config, source) => feeds.konnectConfigurations(config, source),
  };
}

// ---------- reconcile ----------

function ruleView(rule: PlannedRule, target: string): RuleView {
  const prefix = `origin-guard:${target}:`;
  return {
    cidr: rule.cidr,
    protocol: rule.protocol,
    fromPort: rule.fromPort,
    toPort: rule.toPort,
    source: rule.description.startsWith(prefix) ? rule.description.slice(prefix.length) : rule.description,
  };
}

function groupResults(plan: RulePlan): GroupResult[] {
  return plan.groups.map((g) => ({
    groupId: g.groupId,
    add: g.add.map((r) => ruleView(r, plan.target)),
    remove: g.remove.map((r) => ruleView(r, plan.target)),
    rulesAfter: g.rulesAfter,
    rulesBefore: g.rulesBefore,
    quota: g.quota,
    adopt: g.adopt.map((r) => ruleView(r, plan.target)),
    matchedUnowned: g.matchedUnowned,
    families: g.families,
  }));
}

function maxToken(tokens: Array<string | undefined>): string | undefined {
  let best: string | undefined;
  for (const t of tokens) if (t !== undefined && (best === undefined || compareSyncTokens(t, best) > 0)) best = t;
  return best;
}

/** Reconciles every configured target (or one), one after the other; never throws for a target's failure. */
export async function reconcile(config: IpRangesConfig, options: ReconcileOptions, deps: ReconcileDeps): Promise<ReconcileResult> {
  let targets = config.targets;
  if (options.target !== undefined) {
    targets = targets.filter((t) => t.name === options.target);
    if (targets.length === 0) {
      throw new UnknownTargetError(`no ip-ranges target is named "${options.target}"; configured: ${config.targets.map((t) => t.name).join(', ')}`);
    }
  }
  if (options.notice) targets = targets.filter((t) => t.sources.some((s) => s.type === 'aws'));
  const runDeps = { ...deps, feeds: memoizeFeeds(deps.feeds) };
  const results: TargetResult[] = [];
  for (const target of targets) results.push(await reconcileTarget(target, options, runDeps));
  const alertErrors = await alertFindings(results.flatMap((t) => t.findings), options.dryRun ?? false, deps);
  return { targets: results, ...(alertErrors.length > 0 ? { alertErrors } : {}) };
}

/** Sends the alerts of a run; never throws (an alert that cannot be sent must not hide the result). */
async function alertFindings(findings: Finding[], dryRun: boolean, deps: ReconcileDeps): Promise<string[]> {
  if (!deps.alerting || dryRun) {
    for (const finding of findings) if (finding.status === 'FAIL') await publish(deps.alerts, finding, deps.log);
    return [];
  }
  // Two sources of one kind (two static lists) share an id: one state, failing if either fails.
  const byId = new Map<string, Finding>();
  for (const f of findings) if (byId.get(f.id)?.status !== 'FAIL') byId.set(f.id, f);
  try {
    const { errors } = await applyAlerts([...byId.values()], deps.alerting, deps.clock.now(), deps.log);
    for (const error of errors) deps.log.error('reconcile alert not sent', { error });
    return errors;
  } catch (error) {
    // The state cannot be read: alert every failure as before rather than none.
    const message = `reading the alert state failed: ${describeError(error)}; failures were published without it`;
    deps.log.error('reconcile alert state unavailable', { error: message });
    for (const finding of findings) if (finding.status === 'FAIL') await publish(deps.alerting.publisher, finding, deps.log);
    return [message];
  }
}

/**
 * One target; its findings are returned in the result, not published (`reconcile` alerts them). A real run
 * holds the target's lease (when `deps.leases` is given): a target another run holds is skipped, unchanged.
 */
export async function reconcileTarget(target: IpRangeTargetConfig, options: ReconcileOptions, deps: ReconcileDeps): Promise<TargetResult> {
  if (options.dryRun || !deps.leases) return reconcileTargetUnleased(target, options, deps);
  let lease: Lease;
  try {
    lease = await deps.leases.acquire(leaseKey.reconcileTarget(target.name), 'reconcile', RECONCILE_LEASE_MS);
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error;
    deps.log.info('target skipped: another run holds it', { target: target.name, holder: error.holder.owner });
    return {
      name: target.name,
      groups: [],
      held: false,
      status: 'skipped',
      applied: false,
      dryRun: false,
      adopt: options.adopt ?? target.adopt,
      maxRulesPerGroup: target.maxRulesPerGroup,
      notes: [`skipped: ${error.message}`],
      writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 },
      findings: [],
    };
  }
  try {
    return await reconcileTargetUnleased(target, options, deps, lease);
  } finally {
    await lease.release().catch((error) => deps.log.warn('could not release the reconcile lease', { target: target.name, error: describeError(error) }));
  }
}

async function reconcileTargetUnleased(target: IpRangeTargetConfig, options: ReconcileOptions, deps: ReconcileDeps, lease?: Lease): Promise<TargetResult> {
  const { log } = deps;
  const dryRun = options.dryRun ?? false;
  const result: TargetResult = {
    name: target.name,
    groups: [],
    held: false,
    status: 'failed',
    applied: false,
    dryRun,
    adopt: options.adopt ?? target.adopt,
    maxRulesPerGroup: target.maxRulesPerGroup,
    notes: [],
    writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 },
    findings: [],
  };
  const resource = `ip-ranges-target:${target.name}`;
  const report = (
    status: Finding['status'],
    checkId: string,
    message: string,
    remediation: string,
    extra: { details?: Record<string, unknown>; source?: string; severity?: Severity } = {},
  ) => {
    const finding = failureFinding({
      checkId,
      resource: extra.source ?? resource,
      message,
      remediation,
      severity: extra.severity,
      details: { target: target.name, ...extra.details },
    });
    result.findings.push({ ...finding, id: reconcileFindingId(checkId, target.name, extra.source), status });
  };
  const fail = (checkId: string, message: string, remediation: string, details: Record<string, unknown> = {}, source?: string) => {
    result.status = 'failed';
    result.error = result.error ? `${result.error}; ${message}` : message;
    log.error('reconcile failed', { target: target.name, checkId, message });
    report('FAIL', checkId, message, remediation, { details, source });
  };
  const pass = (checkId: string, message: string, extra: { source?: string; severity?: Severity } = {}) =>
    report('PASS', checkId, message, 'No action needed.', extra);

  let observed: ObservedTarget;
  try {
    observed = await deps.groups.read(target);
  } catch (error) {
    fail('reconcile.apply-failed', `target "${target.name}": cannot read its security groups: ${describeError(error)}`, 'Check that the groups exist and that the reconciler may describe them; nothing was changed.');
    return result;
  }
  const previous = observed.state;
  result.previousSyncToken = previous.syncToken;
  // Recorded before versions from the future were refused: every real version now looks older.
  const frozenHint =
    previous.syncToken && isSyncTokenAhead(previous.syncToken, deps.clock.now())
      ? `; the applied version is more than 1 day ahead of the clock: delete the tag origin-guard:${target.name}:syncToken from ${target.securityGroupIds[0]} to recover`
      : '';

  // A notification repeats or arrives late: a version already applied is not fetched again.
  if (options.notice && previous.syncToken && compareSyncTokens(options.notice.syncToken, previous.syncToken) <= 0) {
    result.status = 'skipped';
    result.syncToken = options.notice.syncToken;
    result.notes.push(`notified version ${options.notice.syncToken} is not newer than the applied ${previous.syncToken}: ignored${frozenHint}`);
    log.info('notification ignored: version already applied', { target: target.name, syncToken: options.notice.syncToken, applied: previous.syncToken });
    return result;
  }

  // Every source must load: a partial set would remove the ranges of the source that failed.
  const settled = await Promise.allSettled(
    target.sources.map(async (s) => {
      const loaded = await loadSource(s, deps.feeds, options.notice, deps.clock.now());
      requireFamilies(loaded, target.ipVersions);
      return loaded;
    }),
  );
  const sources: LoadedSource[] = [];
  const failures: Array<{ source: string; message: string }> = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') sources.push(outcome.value);
    else {
      const error = outcome.reason;
      const source = error instanceof SourceError ? error.source : sourceName(target.sources[i]);
      failures.push({ source, message: error instanceof SourceError ? error.message : `${source}: ${describeError(error)}` });
    }
  });
  const syncToken = maxToken(sources.map((s) => s.syncToken));
  result.syncToken = syncToken;
  if (failures.length === 0 && syncToken && previous.syncToken && compareSyncTokens(syncToken, previous.syncToken) < 0) {
    const aws = sources.find((s) => s.syncToken === syncToken)!;
    failures.push({
      source: aws.source,
      message: `${aws.source}: version ${syncToken} is older than the applied ${previous.syncToken} (a stale copy or cache); nothing was changed${frozenHint}`,
    });
  }
  const failedSources = new Set(failures.map((f) => f.source));
  for (const s of target.sources) {
    const name = sourceName(s);
    if (!failedSources.has(name)) pass('reconcile.source-failed', `target "${target.name}": ${name} loads again`, { source: name });
  }
  if (failures.length > 0) {
    for (const f of failures) {
      fail(
        'reconcile.source-failed',
        `target "${target.name}": ${f.message}`,
        `Check the source (URL, file, token) and run origin-guard reconcile --target ${target.name} --dry-run; the groups keep their current rules until every source loads.`,
        { source: f.source, previousSyncToken: previous.syncToken },
        f.source,
      );
    }
    return result;
  }

  // A held shrink is confirmed only by a later version with the same set; without versions (Cloudflare,
  // Fastly, Azure, Konnect, static), by the same set seen again after removalGuardHours, in a later run.
  const held = previous.held;
  const now = deps.clock.now();
  const heldFingerprint = held && confirmsHeld(held, syncToken, now, target.removalGuardHours) ? held.fingerprint : undefined;
  const plan = planTarget(target, sources, observed.rules, { force: options.force, heldFingerprint, prefixLists: observed.prefixLists, adopt: options.adopt ?? target.adopt });
  result.status = plan.status;
  result.held = plan.held;
  result.groups = groupResults(plan);
  result.notes.push(...plan.notes);
  log.info('plan', {
    target: target.name,
    syncToken,
    status: plan.status,
    desired: plan.desiredCount,
    adds: plan.groups.reduce((n, g) => n + g.add.length, 0),
    adopts: plan.groups.reduce((n, g) => n + g.adopt.length, 0),
    removes: plan.groups.reduce((n, g) => n + g.remove.length, 0),
  });

  if (plan.status === 'insufficient-capacity') {
    result.groupsNeeded = plan.groupsNeeded;
    if (plan.groupsNeeded > 0) {
      fail(
        'reconcile.quota',
        `target "${target.name}": ${plan.desiredCount} rules do not fit in ${target.securityGroupIds.length} groups (${plan.capacity} free of ${target.maxRulesPerGroup} each); ${plan.groupsNeeded} more group${plan.groupsNeeded === 1 ? '' : 's'} needed`,
        `Add ${plan.groupsNeeded} security group${plan.groupsNeeded === 1 ? '' : 's'} to securityGroupIds of target "${target.name}" (and attach them), or raise the rules-per-group quota and maxRulesPerGroup; nothing was changed.`,
        { groupsNeeded: plan.groupsNeeded, desired: plan.desiredCount, capacity: plan.capacity },
      );
    } else {
      // More groups would not help (prefix-list references: every group references every list).
      const why = plan.notes.find((n) => n.includes('nothing was changed')) ?? 'the rules do not fit the quota';
      fail('reconcile.quota', `target "${target.name}": ${why}`, `Lower the prefix lists' MaxEntries, or raise the rules-per-group quota and maxRulesPerGroup; nothing was changed.`, {
        desired: plan.desiredCount,
        capacity: plan.capacity,
      });
    }
    result.status = 'insufficient-capacity';
    return result;
  }
  pass('reconcile.quota', `target "${target.name}": the ${plan.desiredCount} rules fit in its ${target.securityGroupIds.length} group${target.securityGroupIds.length === 1 ? '' : 's'}`);
  if (plan.status === 'held' && plan.deferred && !plan.guardReason) {
    const why = plan.notes.filter((n) => n.includes('make-before-break') || n.includes('cannot reference')).join(' ');
    report(
      'FAIL',
      'reconcile.removal-held',
      `target "${target.name}": the change to prefix-list mode waits until what replaces the rules admits the same ranges: ${why}`,
      `Add a spare security group to securityGroupIds of target "${target.name}", or raise the rules-per-group quota and maxRulesPerGroup, as the note says; nothing that admits traffic is removed meanwhile.`,
      { severity: 'MEDIUM', details: { deferred: plan.deferred } },
    );
  } else if (plan.held) {
    report(
      'FAIL',
      'reconcile.removal-held',
      `target "${target.name}": version ${syncToken ?? '(unversioned)'} would remove ${plan.guardReason ?? `${plan.staleCount} of ${plan.ownedCount} owned rules`}, more than maxRemovalFraction ${target.maxRemovalFraction}; removals held, additions ${dryRun ? 'planned' : 'applied'}`,
      `If the shrink is expected, run origin-guard reconcile --target ${target.name} --force; otherwise it is applied once the next version has the same set.`,
      { severity: 'MEDIUM', details: { syncToken, stale: plan.staleCount, owned: plan.ownedCount, reason: plan.guardReason } },
    );
  } else {
    pass('reconcile.removal-held', `target "${target.name}": no removal is held (version ${syncToken ?? '(unversioned)'})`, { severity: 'MEDIUM' });
  }
  if (dryRun) return result;

  try {
    // A lease that lapsed (a long pause) must not write a plan made before someone else's change.
    await lease?.check();
    const report = await deps.groups.apply(target, plan);
    result.writes.authorize = report.authorizeCalls;
    result.writes.revoke = report.revokeCalls;
    result.writes.prefixList = report.prefixListCalls ?? 0;
    result.writes.modify = report.modifyCalls ?? 0;
  } catch (error) {
    fail(
      'reconcile.apply-failed',
      `target "${target.name}": applying the plan failed: ${describeError(error)}`,
      'The next run re-reads the groups and finishes the change; if it keeps failing, check the reconciler permissions and the groups.',
    );
    return result;
  }
  result.applied = true;
  pass('reconcile.apply-failed', `target "${target.name}": its security groups were read and the plan applied`);

  // A version that changes nothing for this target is not recorded: no write at all when nothing changes.
  // Safe, because every version between the recorded one and this one yields the same set here, so a stale
  // copy of any of them plans nothing either; the cost is that a repeated notice re-fetches the feed.
  const changed = plan.status !== 'in-sync';
  const next: TargetState = {
    syncToken: changed && syncToken && (!previous.syncToken || compareSyncTokens(syncToken, previous.syncToken) > 0) ? syncToken : previous.syncToken,
    held: plan.held && plan.desiredFingerprint ? nextHeld(held, plan.desiredFingerprint, syncToken, now) : undefined,
  };
  try {
    await lease?.check();
    result.writes.tags = await deps.groups.writeState(target, next, previous);
  } catch (error) {
    // The rules are right; only the memory of the version is missing, so the next run redoes a no-op plan.
    result.notes.push(`could not record version ${syncToken}: ${describeError(error)}`);
    log.warn('could not record the applied version', { target: target.name, syncToken, error: describeError(error) });
  }
  return result;
}

/** Whether a held shrink is confirmed by this run (its set is compared by the planner). */
export function confirmsHeld(held: NonNullable<TargetState['held']>, syncToken: string | undefined, now: Date, guardHours: number): boolean {
  if (syncToken !== undefined && held.syncToken !== undefined) return compareSyncTokens(syncToken, held.syncToken) > 0;
  // Without versions: seen for at least guardHours, across at least two runs (this one being a later one).
  // A state written before `since` existed counts as just seen.
  if (held.since === undefined) return guardHours === 0;
  const since = Date.parse(held.since);
  if (!Number.isFinite(since)) return false;
  return (held.runs ?? 1) >= 1 && now.getTime() - since >= guardHours * 3_600_000;
}

/** The held state after a run that held: the same set keeps its first sighting and counts one more run. */
export function nextHeld(previous: TargetState['held'], fingerprint: string, syncToken: string | undefined, now: Date): NonNullable<TargetState['held']> {
  // A versioned source is confirmed by a later version: the version is all there is to remember.
  if (syncToken) return { fingerprint, syncToken };
  if (previous && previous.fingerprint === fingerprint && previous.since !== undefined) {
    return { fingerprint, since: previous.since, runs: (previous.runs ?? 1) + 1 };
  }
  return { fingerprint, since: now.toISOString(), runs: 1 };
}

async function publish(alerts: AlertPort, finding: Finding, log: LogPort): Promise<void> {
  try {
    await alerts.publish({ kind: 'FAILURE', finding });
  } catch (error) {
    // An alert that cannot be sent must not hide the result; the log keeps it.
    log.error('could not publish an alert', { checkId: finding.checkId, error: describeError(error) });
  }
}
