/**
 * The range planner: pure, no I/O. Given the desired CIDRs of a target and the ingress rules observed in its
 * security groups, it decides per group which owned rules to add and to remove. Rules are compared as plain
 * strings (canonical CIDRs) in nested maps, and new rules fill groups with one forward cursor, so the work is
 * linear: 100k CIDRs over many groups plan in a small fraction of a second.
 */
import { createHash } from 'node:crypto';
import type { IpRangeTargetConfig } from '../config.ts';
import { canonicalCidr, cidrFamily, type IpFamily } from './cidr.ts';
import type { SourceRanges } from './ip-sources.ts';

export const DESCRIPTION_PREFIX = 'origin-guard';

/** Every rule origin-guard owns for `target` has a description starting with this. */
export function ownerPrefix(target: string): string {
  return `${DESCRIPTION_PREFIX}:${target}:`;
}

export function ruleDescription(target: string, label: string): string {
  return `${ownerPrefix(target)}${label}`;
}

/** One ingress rule as the planner sees it: a CIDR and a port range. */
export interface RuleShape {
  /** Canonical CIDR (see cidr.ts). */
  cidr: string;
  protocol: string;
  fromPort: number;
  toPort: number;
}

export interface DesiredRule extends RuleShape {
  description: string;
  /** What the rule counts as against the quota (see ObservedRule.weight); default 1. */
  weight?: number;
}

/** An ingress rule read from a group (egress rules are not passed in). */
export interface ObservedRule {
  groupId: string;
  /** `sgr-...`, used to revoke exactly this rule. */
  ruleId?: string;
  protocol: string;
  fromPort: number;
  toPort: number;
  /**
   * IPv4 or IPv6 CIDR; a prefix list's id (`pl-...`) for a rule referencing one (planned like a CIDR);
   * undefined for rules that reference a security group.
   */
  cidr?: string;
  description?: string;
  /**
   * What the rule counts as against the group's quota: AWS counts a rule that references a prefix list as the
   * list's MaxEntries. Default 1.
   */
  weight?: number;
}

/** A rule's cost against the quota. */
export function ruleWeight(rule: { weight?: number }): number {
  return rule.weight ?? 1;
}

/** Quota units per family: AWS counts IPv4 and IPv6 rules against separate quotas of the same size. */
export interface FamilyCounts {
  ipv4: number;
  ipv6: number;
}

/**
 * Which family a rule's weight counts in: its CIDR's, or both for a rule that references a prefix list or a
 * group (AWS counts those once in each family, a prefix list by its MaxEntries).
 */
export function costFamily(rule: { cidr?: string }): IpFamily | 'both' {
  if (rule.cidr === undefined || isPrefixListId(rule.cidr)) return 'both';
  return rule.cidr.includes(':') ? 'ipv6' : 'ipv4';
}

function addCost(to: FamilyCounts, rule: { cidr?: string; weight?: number }, sign = 1): void {
  const w = ruleWeight(rule) * sign;
  const f = costFamily(rule);
  if (f !== 'ipv6') to.ipv4 += w;
  if (f !== 'ipv4') to.ipv6 += w;
}

function fits(room: FamilyCounts, rule: { cidr?: string; weight?: number }): boolean {
  const w = ruleWeight(rule);
  const f = costFamily(rule);
  return (f === 'ipv6' || room.ipv4 >= w) && (f === 'ipv4' || room.ipv6 >= w);
}

const zero = (): FamilyCounts => ({ ipv4: 0, ipv6: 0 });
const sum = (...cs: FamilyCounts[]): FamilyCounts => ({ ipv4: cs.reduce((n, c) => n + c.ipv4, 0), ipv6: cs.reduce((n, c) => n + c.ipv6, 0) });
const minus = (a: FamilyCounts, ...bs: FamilyCounts[]): FamilyCounts => ({ ipv4: bs.reduce((n, b) => n - b.ipv4, a.ipv4), ipv6: bs.reduce((n, b) => n - b.ipv6, a.ipv6) });
const maxOf = (c: FamilyCounts) => Math.max(c.ipv4, c.ipv6);

/** One family's use of a group's quota. */
export interface FamilyUse {
  before: number;
  after: number;
  unowned: number;
  quota: number;
}

export interface PlannedRule extends RuleShape {
  description: string;
  /** Set on removals and adoptions. */
  ruleId?: string;
}

export interface GroupPlan {
  groupId: string;
  add: PlannedRule[];
  remove: PlannedRule[];
  /**
   * Rules someone else made that are identical (protocol, ports, CIDR or prefix list) to desired ones: they
   * already admit the range, so nothing is added for them. With `adopt`, their description is rewritten to
   * origin-guard's (`description` here is the new one, `ruleId` the rule's); otherwise this list is empty.
   */
  adopt: PlannedRule[];
  /** Unowned rules that satisfy a desired rule (adopted or not). */
  matchedUnowned: number;
  /**
   * Ingress rules in the group now, owned or not, as they count against the quota (a prefix-list reference as
   * its MaxEntries): the larger of the two families, since AWS counts each family against its own quota.
   */
  rulesBefore: number;
  /** Ingress rules in the group once the plan is applied, as they count against `maxRulesPerGroup`. */
  rulesAfter: number;
  /** Rules origin-guard does not own, as they count against the quota: never touched, but they use it. */
  unowned: number;
  /** The group's quota: `maxRulesPerGroup`, or a prefix list's MaxEntries. */
  quota: number;
  /** Use of the quota per family (a reference counts in both). */
  families: Record<IpFamily, FamilyUse>;
  /**
   * The group is too full to add before removing: its removals run first (the only case where a removed
   * rule is not replaced before it goes). Otherwise additions run before removals, as everywhere else.
   */
  removeFirst: boolean;
}

export type PlanStatus = 'in-sync' | 'changes' | 'held' | 'insufficient-capacity';

export interface RulePlan {
  target: string;
  status: PlanStatus;
  groups: GroupPlan[];
  /** Removals of rules no longer desired were withheld by the `maxRemovalFraction` guard. */
  held: boolean;
  /** Distinct desired rules (CIDR × port). */
  desiredCount: number;
  /** Distinct owned rules observed. */
  ownedCount: number;
  /** Owned rules that are no longer desired (before the guard). */
  staleCount: number;
  /** staleCount / ownedCount. */
  removalFraction: number;
  /**
   * Set when the removal guard fires: what lost more than `maxRemovalFraction`, the target's owned rules
   * and/or one source's own rules (by the source label of their descriptions), e.g. `source konnect: 1 of its 2 rules (50%)`.
   */
  guardReason?: string;
  /** Rules the groups can hold for this target (quota minus unowned rules), summed over the families it uses. */
  capacity: number;
  /** When status is `insufficient-capacity`: how many more groups of `maxRulesPerGroup` the set needs. */
  groupsNeeded: number;
  /**
   * Fingerprint of the desired set, computed only when the removal guard fires: a held shrink is confirmed
   * when the same fingerprint comes back.
   */
  desiredFingerprint?: string;
  /** Human-readable reasons: why held, why nothing applies. */
  notes: string[];
  /**
   * Prefix-list mode: changes left for a later run because making them now would drop a desired range for a
   * moment (a rule whose replacement does not admit the range yet, a reference with no room beside the rules).
   */
  deferred?: number;
}

export interface PlanInput {
  target: string;
  /** In configuration order: new rules fill the first groups with room. */
  groupIds: readonly string[];
  maxRulesPerGroup: number;
  maxRemovalFraction: number;
  desired: readonly DesiredRule[];
  /** Ingress rules of the target's groups; rules of other groups are ignored. */
  observed: readonly ObservedRule[];
  /** Apply removals even when they exceed `maxRemovalFraction`. */
  force?: boolean;
  /**
   * Fingerprint of the shrunken set that a previous version was held on. When the desired set has the same
   * fingerprint, the shrink has been seen twice in a row and is applied.
   */
  heldFingerprint?: string;
  /** Per-group quota where groups differ (prefix lists: their MaxEntries); default `maxRulesPerGroup`. */
  capacities?: Readonly<Record<string, number>>;
  /** Groups that take one family only (prefix lists); default: every group takes both. */
  families?: Readonly<Record<string, IpFamily>>;
  /** What a group is called in notes: `security group` (default) or `prefix list`. */
  groupNoun?: string;
  /** Take ownership of unowned rules identical to desired ones (rewrite their descriptions). */
  adopt?: boolean;
  /**
   * A desired set more than this many times larger or smaller than the owned one (a truncated or inflated feed)
   * is held whole: nothing added, nothing removed, until forced or confirmed. Off when absent.
   */
  maxGrowthFactor?: number;
}

/** Below this many owned rules the growth factor is not judged (a first few rules are no sign of a broken feed). */
export const GROWTH_GUARD_MIN_RULES = 10;

/** `tcp|443|443|192.0.2.0/24`: a rule's identity, used for fingerprints (the index below avoids building it). */
function ruleKey(r: RuleShape): string {
  return `${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`;
}

/** Order-independent fingerprint of a set of rules (sorted keys, sha256, 16 hex digits). */
export function fingerprintRules(keys: Iterable<string>): string {
  const sorted = [...keys].sort();
  const hash = createHash('sha256');
  for (const k of sorted) hash.update(k).update('\n');
  return hash.digest('hex').slice(0, 16);
}

/** What the planner knows about one distinct rule (CIDR × protocol × ports). */
interface Entry {
  rule: DesiredRule;
  desired: boolean;
  /** Seen at least once among the owned rules. */
  owned: boolean;
  /** Already has its one copy in some group. */
  placed: boolean;
}

/**
 * Distinct rules by protocol → fromPort → toPort → CIDR. Nested maps keyed by the values themselves: no
 * concatenated key strings to build and hash per rule, which is what keeps 100k rules fast.
 */
class RuleIndex {
  private readonly root = new Map<string, Map<number, Map<number, Map<string, Entry>>>>();
  readonly entries: Entry[] = [];

  private cidrs(r: RuleShape, create: boolean): Map<string, Entry> | undefined {
    let byFrom = this.root.get(r.protocol);
    if (!byFrom) {
      if (!create) return undefined;
      this.root.set(r.protocol, (byFrom = new Map()));
    }
    let byTo = byFrom.get(r.fromPort);
    if (!byTo) {
      if (!create) return undefined;
      byFrom.set(r.fromPort, (byTo = new Map()));
    }
    let byCidr = byTo.get(r.toPort);
    if (!byCidr) {
      if (!create) return undefined;
      byTo.set(r.toPort, (byCidr = new Map()));
    }
    return byCidr;
  }

  /** The entry of `r`, if any. */
  find(r: RuleShape): Entry | undefined {
    return this.cidrs(r, false)?.get(r.cidr);
  }

  /** The entry of `r`, created when absent (a desired rule is its own; an observed one is copied). */
  entry(r: DesiredRule | ObservedRule, desired: boolean): Entry {
    const byCidr = this.cidrs(r as RuleShape, true)!;
    let entry = byCidr.get(r.cidr!);
    if (!entry) {
      const rule: DesiredRule = desired
        ? (r as DesiredRule)
        : { cidr: r.cidr!, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, description: r.description ?? '' };
      entry = { rule, desired, owned: false, placed: false };
      byCidr.set(r.cidr!, entry);
      this.entries.push(entry);
    }
    return entry;
  }
}

/** Quantities below are in quota units per family: a rule counts as its weight (1, or a referenced list's MaxEntries). */
interface GroupState {
  groupId: string;
  unowned: FamilyCounts;
  owned: ObservedRule[];
  /** The index entry of each owned rule (undefined for a rule without a CIDR), looked up once. */
  ownedEntries: Array<Entry | undefined>;
  /** Unowned rules identical to a desired one. */
  foreign: Array<{ rule: ObservedRule; entry: Entry }>;
  ownedWeight: FamilyCounts;
  kept: FamilyCounts;
  capacity: FamilyCounts;
  add: PlannedRule[];
  addWeight: FamilyCounts;
  remove: PlannedRule[];
  adopt: PlannedRule[];
  matchedUnowned: number;
  removeFirst: boolean;
}

function compareRules(a: DesiredRule, b: DesiredRule): number {
  return a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : a.fromPort - b.fromPort || a.toPort - b.toPort;
}

const FAMILY_NAMES: Record<IpFamily, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** Pending rules in queues that each fill the groups taking them: references (both families), then each family. */
function queuesOf(rules: readonly DesiredRule[], families: PlanInput['families']): Array<{ family?: IpFamily; rules: DesiredRule[] }> {
  if (families) return (['ipv4', 'ipv6'] as const).map((family) => ({ family, rules: rules.filter((r) => cidrFamily(r.cidr) === family) }));
  const both: DesiredRule[] = [];
  const v4: DesiredRule[] = [];
  const v6: DesiredRule[] = [];
  for (const r of rules) {
    const f = costFamily(r);
    (f === 'both' ? both : f === 'ipv4' ? v4 : v6).push(r);
  }
  return [{ rules: both }, { rules: v4 }, { rules: v6 }];
}

/**
 * Plans one target. Minimal churn: an owned rule that is still desired stays in its group (unless the group
 * is over quota); an unowned rule identical to a desired one satisfies it (and is adopted with `adopt`); only
 * new rules are placed, into the first groups with room; a rule owned twice keeps its first copy. The quota is
 * counted per family, as AWS does. When the groups cannot hold the set the plan changes nothing and says how
 * many groups are missing. The removal guard keeps every owned rule (additions still go in) unless forced or confirmed.
 */
export function planRuleChanges(input: PlanInput): RulePlan {
  const index = new RuleIndex();
  let desiredCount = 0;
  for (const rule of input.desired) {
    const entry = index.entry(rule, true);
    if (entry.rule === rule) desiredCount += 1;
  }

  const prefix = ownerPrefix(input.target);
  const groups: GroupState[] = [];
  const byId = new Map<string, GroupState>();
  for (const groupId of input.groupIds) {
    if (byId.has(groupId)) continue;
    const state: GroupState = {
      groupId,
      unowned: zero(),
      owned: [],
      ownedEntries: [],
      foreign: [],
      ownedWeight: zero(),
      kept: zero(),
      capacity: zero(),
      add: [],
      addWeight: zero(),
      remove: [],
      adopt: [],
      matchedUnowned: 0,
      removeFirst: false,
    };
    groups.push(state);
    byId.set(groupId, state);
  }
  // The guard looks at distinct owned rules that are no longer desired, for the target and per source: a
  // small source (a few egress IPs) could otherwise vanish unnoticed inside a target of hundreds of rules.
  // Per source it guards only a source that would lose every rule (a feed gone empty or truncated): a gateway
  // dropping one of its egress IPs is an ordinary change, and a per-source hold would last until the next
  // AWS version.
  let ownedCount = 0;
  let stale = 0;
  const bySource = new Map<string, { owned: number; stale: number }>();
  for (const rule of input.observed) {
    const group = byId.get(rule.groupId);
    if (!group) continue;
    if (!rule.description?.startsWith(prefix)) {
      addCost(group.unowned, rule);
      // A hand-made rule for a desired range admits it already: identity is protocol, ports and CIDR, not the description.
      const entry = rule.cidr === undefined ? undefined : index.find(rule as RuleShape);
      if (entry?.desired) group.foreign.push({ rule, entry });
      continue;
    }
    let entry: Entry | undefined;
    if (rule.cidr !== undefined) {
      entry = index.entry(rule, false);
      if (!entry.owned) {
        entry.owned = true;
        ownedCount += 1;
        if (!entry.desired) stale += 1;
        const label = rule.description.slice(prefix.length);
        let counts = bySource.get(label);
        if (!counts) bySource.set(label, (counts = { owned: 0, stale: 0 }));
        counts.owned += 1;
        if (!entry.desired) counts.stale += 1;
      }
    }
    group.owned.push(rule);
    group.ownedEntries.push(entry);
    addCost(group.ownedWeight, rule);
  }
  const removalFraction = ownedCount === 0 ? 0 : stale / ownedCount;
  const notes: string[] = [];

  let held = false;
  let fingerprint: string | undefined;
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  const breaches: string[] = [];
  if (removalFraction > input.maxRemovalFraction) breaches.push(`${stale} of ${ownedCount} owned rules (${pct(removalFraction)})`);
  for (const label of [...bySource.keys()].sort()) {
    const c = bySource.get(label)!;
    if (c.stale === c.owned && c.stale / c.owned > input.maxRemovalFraction) breaches.push(`source ${label}: all ${c.owned} of its rules`);
  }
  // A set that grows or shrinks by more than the factor is a broken feed more often than a real change.
  const factor = input.maxGrowthFactor;
  let jump = false;
  if (factor !== undefined && ownedCount >= GROWTH_GUARD_MIN_RULES) {
    const wantedNow = index.entries.reduce((n, e) => n + (e.desired ? 1 : 0), 0);
    if (wantedNow > ownedCount * factor) {
      jump = true;
      breaches.push(`the set grows from ${ownedCount} to ${wantedNow} rules, more than maxGrowthFactor ${factor}`);
    } else if (wantedNow * factor < ownedCount) {
      jump = true;
      breaches.push(`the set shrinks from ${ownedCount} to ${wantedNow} rules, more than maxGrowthFactor ${factor}`);
    }
  }
  const guardReason = breaches.length > 0 ? breaches.join('; ') : undefined;
  if (guardReason) {
    fingerprint = fingerprintRules(index.entries.filter((e) => e.desired).map((e) => ruleKey(e.rule)));
    if (input.force) {
      notes.push(`removes ${guardReason}, above maxRemovalFraction ${input.maxRemovalFraction}: applied because of --force`);
    } else if (input.heldFingerprint !== undefined && input.heldFingerprint === fingerprint) {
      notes.push(`removes ${guardReason}: applied because the same shrunken set was seen in two consecutive versions`);
    } else if (jump) {
      // Fails closed: a feed that suddenly holds a third or three times the ranges changes nothing at all.
      notes.push(`${guardReason}: nothing is added or removed. Applied with --force, or once the same set is confirmed by later runs.`);
      return {
        target: input.target,
        status: 'held',
        held: true,
        desiredCount,
        ownedCount,
        staleCount: stale,
        removalFraction,
        guardReason,
        capacity: 0,
        groupsNeeded: 0,
        desiredFingerprint: fingerprint,
        notes,
        groups: groups.map((g) => {
          const before = sum(g.unowned, g.ownedWeight);
          const quota = input.capacities?.[g.groupId] ?? input.maxRulesPerGroup;
          const use = (f: IpFamily): FamilyUse => ({ before: before[f], after: before[f], unowned: g.unowned[f], quota });
          return {
            groupId: g.groupId,
            add: [],
            remove: [],
            adopt: [],
            matchedUnowned: 0,
            rulesBefore: maxOf(before),
            rulesAfter: maxOf(before),
            unowned: maxOf(g.unowned),
            quota,
            removeFirst: false,
            families: { ipv4: use('ipv4'), ipv6: use('ipv6') },
          };
        }),
      };
    } else {
      held = true;
      notes.push(
        `would remove ${guardReason}, above maxRemovalFraction ${input.maxRemovalFraction}: removals held, additions applied. ` +
          `They are applied with --force or when the same set is confirmed (a later version, or for sources without versions, later runs over removalGuardHours).`,
      );
    }
  }
  // Held: every owned rule stays wanted, so nothing owned is removed for being stale.
  const wanted = (e: Entry) => e.desired || (held && e.owned);

  // 1. Keep what is already in place; remove stale rules and second copies; evict above the quota.
  for (const g of groups) {
    const quota = input.capacities?.[g.groupId] ?? input.maxRulesPerGroup;
    g.capacity = { ipv4: Math.max(0, quota - g.unowned.ipv4), ipv6: Math.max(0, quota - g.unowned.ipv6) };
    for (let i = 0; i < g.owned.length; i++) {
      const entry = g.ownedEntries[i];
      const rule = g.owned[i];
      if (entry !== undefined && wanted(entry) && !entry.placed && fits(minus(g.capacity, g.kept), rule)) {
        entry.placed = true;
        addCost(g.kept, rule);
      } else {
        g.remove.push(toPlanned(rule));
      }
    }
  }
  // 1b. Unowned rules identical to a desired rule not yet in place satisfy it (they use quota either way).
  for (const g of groups) {
    for (const { rule, entry } of g.foreign) {
      if (entry.placed || !wanted(entry)) continue;
      entry.placed = true;
      g.matchedUnowned += 1;
      if (input.adopt && rule.ruleId) g.adopt.push({ ...toPlanned(rule), description: entry.rule.description });
    }
  }

  // 2. Place the rest: first where the group can take them before its removals run (no gap), then, if
  //    needed, where there is room only after removals (that group removes first).
  const pending: DesiredRule[] = [];
  let wantedCount = 0;
  for (const e of index.entries) {
    if (!wanted(e)) continue;
    wantedCount += 1;
    if (!e.placed) pending.push(e.rule);
  }
  pending.sort(compareRules);
  const families = input.families;
  const queues = queuesOf(pending, families).map((q) => ({ ...q, next: 0 }));
  const eligible = (q: { family?: IpFamily }) => (families && q.family ? groups.filter((g) => families[g.groupId] === q.family) : groups);
  // Fills `g` from the queue's cursor while the next rule fits in `room` (quota units per family).
  const fill = (g: GroupState, q: { rules: DesiredRule[]; next: number }, room: FamilyCounts) => {
    while (q.next < q.rules.length && fits(room, q.rules[q.next])) {
      const rule = q.rules[q.next++];
      g.add.push(rule);
      addCost(g.addWeight, rule);
      addCost(room, rule, -1);
    }
  };
  for (const q of queues) for (const g of eligible(q)) fill(g, q, minus(g.capacity, g.ownedWeight, g.addWeight));
  for (const q of queues) {
    for (const g of eligible(q)) {
      const room = minus(g.capacity, g.kept, g.addWeight);
      if (q.next < q.rules.length && fits(room, q.rules[q.next])) g.removeFirst = g.removeFirst || g.remove.length > 0;
      fill(g, q, room);
    }
  }
  let missing = 0;
  const missingByFamily = zero();
  for (const q of queues) {
    missing += q.rules.length - q.next;
    for (let i = q.next; i < q.rules.length; i++) addCost(missingByFamily, q.rules[i]);
  }

  // The capacity of the families the set uses (a list only takes its own family).
  const used = new Set<IpFamily>();
  for (const e of index.entries) {
    if (!wanted(e)) continue;
    const f = costFamily(e.rule);
    if (f === 'both') {
      used.add('ipv4');
      used.add('ipv6');
    } else used.add(f);
  }
  if (used.size === 0) used.add('ipv4');
  const capacity = groups.reduce((n, g) => {
    if (families?.[g.groupId]) return n + g.capacity[families[g.groupId]];
    return n + [...used].reduce((m, f) => m + g.capacity[f], 0);
  }, 0);
  const base = {
    target: input.target,
    held,
    desiredCount,
    ownedCount,
    staleCount: stale,
    removalFraction,
    ...(guardReason ? { guardReason } : {}),
    capacity,
    ...(fingerprint ? { desiredFingerprint: fingerprint } : {}),
    notes,
  };
  const view = (g: GroupState, after: FamilyCounts, changes: { add: PlannedRule[]; remove: PlannedRule[]; adopt: PlannedRule[]; removeFirst: boolean }): GroupPlan => {
    const quota = input.capacities?.[g.groupId] ?? input.maxRulesPerGroup;
    const before = sum(g.unowned, g.ownedWeight);
    const use = (f: IpFamily): FamilyUse => ({ before: before[f], after: after[f], unowned: g.unowned[f], quota });
    return {
      groupId: g.groupId,
      ...changes,
      matchedUnowned: g.matchedUnowned,
      rulesBefore: maxOf(before),
      rulesAfter: maxOf(after),
      unowned: maxOf(g.unowned),
      quota,
      families: { ipv4: use('ipv4'), ipv6: use('ipv6') },
    };
  };

  if (missing > 0 && held) {
    // The guard keeps the old rules for now, so the old and the new set together do not fit. That is no
    // reason to refuse the version: judge the capacity on the new set alone, and meanwhile add what fits.
    const unguarded = planRuleChanges({ ...input, maxRemovalFraction: 1, force: false, heldFingerprint: undefined });
    if (unguarded.status === 'insufficient-capacity') return unguarded;
    return heldWithinFreeRoom(input, groups, index.entries, wantedCount, view, { ...base, status: 'held', groupsNeeded: 0, groups: [] });
  }

  if (missing > 0) {
    const noun = input.groupNoun ?? 'security group';
    const byFamily = (['ipv4', 'ipv6'] as const).filter((f) => missingByFamily[f] > 0);
    // A new security group brings a full quota in each family; a new prefix list, in its own family only.
    const perFamily = byFamily.map((f) => Math.ceil(missingByFamily[f] / input.maxRulesPerGroup));
    const groupsNeeded = families ? perFamily.reduce((a, b) => a + b, 0) : Math.max(0, ...perFamily);
    const which = ` (${byFamily.map((f) => `${missingByFamily[f]} ${FAMILY_NAMES[f]}`).join(', ')} missing)`;
    notes.push(
      `${wantedCount} rules do not fit: the ${groups.length} ${noun}s hold ${capacity} after their unowned entries (quota ${input.maxRulesPerGroup} each${families ? '' : ' per family'})${which}. ` +
        `Add ${groupsNeeded} more ${noun}${groupsNeeded === 1 ? '' : 's'} to the target; nothing was changed.`,
    );
    return {
      ...base,
      status: 'insufficient-capacity',
      groupsNeeded,
      groups: groups.map((g) => view(g, sum(g.unowned, g.ownedWeight), { add: [], remove: [], adopt: [], removeFirst: false })),
    };
  }

  const changed = groups.some((g) => g.add.length > 0 || g.remove.length > 0 || g.adopt.length > 0);
  return {
    ...base,
    status: held ? 'held' : changed ? 'changes' : 'in-sync',
    groupsNeeded: 0,
    groups: groups.map((g) => view(g, sum(g.unowned, g.kept, g.addWeight), { add: g.add, remove: g.remove, adopt: g.adopt, removeFirst: g.removeFirst })),
  };
}

/**
 * A held shrink whose union with the old set does not fit: nothing is removed (the guard holds every owned
 * rule), and the new rules go only into the room the groups have now; the rest follow once the shrink is applied.
 */
function heldWithinFreeRoom(
  input: PlanInput,
  groups: GroupState[],
  entries: readonly Entry[],
  unionCount: number,
  view: (g: GroupState, after: FamilyCounts, changes: { add: PlannedRule[]; remove: PlannedRule[]; adopt: PlannedRule[]; removeFirst: boolean }) => GroupPlan,
  plan: RulePlan,
): RulePlan {
  const fresh = entries.filter((e) => e.desired && !e.placed && !e.owned).map((e) => e.rule).sort(compareRules);
  const families = input.families;
  const adds = new Map<string, { rules: PlannedRule[]; weight: FamilyCounts }>(groups.map((g) => [g.groupId, { rules: [], weight: zero() }]));
  let added = 0;
  for (const queue of queuesOf(fresh, families)) {
    let next = 0;
    for (const g of groups) {
      if (families && queue.family && families[g.groupId] !== queue.family) continue;
      const add = adds.get(g.groupId)!;
      const room = minus(g.capacity, g.ownedWeight, add.weight);
      while (next < queue.rules.length && fits(room, queue.rules[next])) {
        const rule = queue.rules[next++];
        add.rules.push(rule);
        addCost(add.weight, rule);
        addCost(room, rule, -1);
      }
    }
    added += next;
  }
  const noun = input.groupNoun ?? 'security group';
  const rest = fresh.length - added;
  plan.notes.push(
    `the old and the new set together (${unionCount} rules) do not fit the ${groups.length} ${noun}s (${plan.capacity} after their unowned entries); the new set alone fits. ` +
      `${added} of the ${fresh.length} new rules fit the free room and are added${rest > 0 ? `; the other ${rest} are added once the shrink is applied` : ''}; nothing is removed.`,
  );
  return {
    ...plan,
    groups: groups.map((g) => {
      const add = adds.get(g.groupId)!;
      return view(g, sum(g.unowned, g.ownedWeight, add.weight), { add: add.rules, remove: [], adopt: g.adopt, removeFirst: false });
    }),
  };
}

function toPlanned(r: ObservedRule): PlannedRule {
  return {
    cidr: r.cidr ?? '',
    protocol: r.protocol,
    fromPort: r.fromPort,
    toPort: r.toPort,
    description: r.description ?? '',
    ...(r.ruleId ? { ruleId: r.ruleId } : {}),
  };
}

// ---------- from configuration and sources ----------

/**
 * A target's desired rules: every CIDR of every source × every port, in the target's IP versions, the first
 * source naming a CIDR giving its description. (The planner sorts what it adds, so plans do not depend on feed order.)
 */
export function desiredRules(target: IpRangeTargetConfig, sources: readonly SourceRanges[]): DesiredRule[] {
  const families = new Set(target.ipVersions);
  const byCidr = new Map<string, string>();
  for (const s of sources) {
    for (const cidr of s.cidrs) {
      if (!families.has(cidrFamily(cidr))) continue;
      if (!byCidr.has(cidr)) byCidr.set(cidr, ruleDescription(target.name, s.label));
    }
  }
  const rules: DesiredRule[] = [];
  for (const port of [...new Set(target.ports)].sort((a, b) => a - b)) {
    for (const cidr of byCidr.keys()) rules.push({ cidr, protocol: target.protocol, fromPort: port, toPort: port, description: byCidr.get(cidr)! });
  }
  return rules;
}

/**
 * EC2 may return an IPv6 CIDR in the form it was written; rules are compared in canonical form (owned ones,
 * and unowned ones, which may be identical to a desired rule written by hand).
 */
export function normalizeObserved(rules: readonly ObservedRule[], _target: string): ObservedRule[] {
  return rules.map((r) => {
    // Only IPv6 has several spellings; IPv4 rules are compared as written (EC2 keeps what we wrote).
    if (r.cidr === undefined || !r.cidr.includes(':')) return r;
    const canonical = canonicalCidr(r.cidr);
    return canonical === undefined || canonical === r.cidr ? r : { ...r, cidr: canonical };
  });
}

export interface PlanTargetOptions {
  force?: boolean;
  heldFingerprint?: string;
  /** `mode: "prefix-list"`: the target's lists as read (family, MaxEntries), in any order. */
  prefixLists?: readonly PrefixListInfo[];
  /** Take ownership of identical hand-made rules (default: the target's `adopt`). */
  adopt?: boolean;
}

/** The guard settings of a target as the planner takes them. */
function guardOf(target: IpRangeTargetConfig): { maxGrowthFactor?: number } {
  return target.maxGrowthFactor === undefined ? {} : { maxGrowthFactor: target.maxGrowthFactor };
}

/**
 * The one entry point for "what should this target's groups look like, and how far are they from it":
 * used by reconcile (to apply) and by the audit (drift = a plan whose status is not `in-sync`).
 */
export function planTarget(
  target: IpRangeTargetConfig,
  sources: readonly SourceRanges[],
  observed: readonly ObservedRule[],
  options: PlanTargetOptions = {},
): RulePlan {
  const plan =
    target.mode === 'prefix-list'
      ? planPrefixListTarget(target, sources, observed, options)
      : planRuleChanges({
          target: target.name,
          groupIds: target.securityGroupIds,
          maxRulesPerGroup: target.maxRulesPerGroup,
          maxRemovalFraction: target.maxRemovalFraction,
          desired: desiredRules(target, sources),
          observed: normalizeObserved(observed, target.name),
          force: options.force,
          heldFingerprint: options.heldFingerprint,
          adopt: options.adopt ?? target.adopt,
          ...guardOf(target),
        });
  const advice = managedPrefixListAdvice(target);
  if (advice) plan.notes.push(advice);
  return plan;
}

// ---------- mode "prefix-list" ----------

/** The pseudo protocol of a prefix-list entry in plans (an entry has a CIDR and a description, no ports). */
export const PREFIX_LIST_ENTRY = 'prefix-list-entry';

export interface PrefixListInfo {
  id: string;
  family: IpFamily;
  maxEntries: number;
}

export function isPrefixListId(id: string): boolean {
  return id.startsWith('pl-');
}

/**
 * `mode: "prefix-list"`: the CIDRs go into the target's customer-managed prefix lists (spread like rules over
 * groups, each list taking its own family up to its MaxEntries), and every security group gets one rule per
 * list × port referencing it. A reference rule's `cidr` is the list id. Owned CIDR rules left from `rules`
 * mode are removed from the groups once the references are in.
 */
export function planPrefixListTarget(
  target: IpRangeTargetConfig,
  sources: readonly SourceRanges[],
  observed: readonly ObservedRule[],
  options: PlanTargetOptions = {},
): RulePlan {
  const order = new Map((target.prefixListIds ?? []).map((id, i) => [id, i]));
  const lists = [...(options.prefixLists ?? [])].filter((l) => order.has(l.id)).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const families = new Set(target.ipVersions);
  const byCidr = new Map<string, string>();
  for (const s of sources) {
    for (const cidr of s.cidrs) if (families.has(cidrFamily(cidr)) && !byCidr.has(cidr)) byCidr.set(cidr, ruleDescription(target.name, s.label));
  }
  const entries: DesiredRule[] = [];
  for (const [cidr, description] of byCidr) entries.push({ cidr, protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, description });
  const normalized = normalizeObserved(observed, target.name);
  const listPlan = planRuleChanges({
    target: target.name,
    groupIds: lists.map((l) => l.id),
    maxRulesPerGroup: Math.max(1, ...lists.map((l) => l.maxEntries)),
    capacities: Object.fromEntries(lists.map((l) => [l.id, l.maxEntries])),
    families: Object.fromEntries(lists.map((l) => [l.id, l.family])),
    groupNoun: 'prefix list',
    maxRemovalFraction: target.maxRemovalFraction,
    desired: entries,
    observed: normalized.filter((r) => isPrefixListId(r.groupId)),
    force: options.force,
    heldFingerprint: options.heldFingerprint,
    ...guardOf(target),
  });
  const missingLists = (target.prefixListIds ?? []).filter((id) => !lists.some((l) => l.id === id));
  if (missingLists.length > 0) listPlan.notes.push(`prefix lists ${missingLists.join(', ')} were not found; only the others are used`);

  // Every group references every list whose family the target admits, on every port.
  const referenced = lists.filter((l) => families.has(l.family));
  const description = ruleDescription(target.name, 'prefix-list');
  // A reference to one of the target's own lists without a description is the target's too (moto drops
  // descriptions of prefix-list references; and nobody else should reference a list origin-guard rewrites).
  const listIds = new Set(target.prefixListIds ?? []);
  // A reference counts as its list's MaxEntries against the group's quota (as AWS counts it).
  const sizes = new Map(lists.map((l) => [l.id, l.maxEntries]));
  const groupRules = normalized.map((r) => {
    if (r.cidr === undefined || !listIds.has(r.cidr)) return r;
    return { ...r, ...(r.description ? {} : { description }), ...(sizes.has(r.cidr) ? { weight: sizes.get(r.cidr)! } : {}) };
  });
  const groupPlans = target.securityGroupIds.map((groupId) => {
    const plan = planRuleChanges({
      target: target.name,
      groupIds: [groupId],
      maxRulesPerGroup: target.maxRulesPerGroup,
      // References only move with the configuration, never with a feed: no guard.
      maxRemovalFraction: 1,
      desired: target.ports.flatMap((port) =>
        referenced.map((l) => ({ cidr: l.id, protocol: target.protocol, fromPort: port, toPort: port, description, weight: l.maxEntries })),
      ),
      observed: groupRules.filter((r) => r.groupId === groupId),
      adopt: options.adopt ?? target.adopt,
    });
    if (plan.status !== 'insufficient-capacity') return plan;
    // Every group references every list: more groups do not help, smaller lists or a larger quota do.
    const group = plan.groups[0];
    const weights = target.ports.flatMap(() => referenced.map((l) => l.maxEntries));
    return {
      ...plan,
      groupsNeeded: 0,
      notes: [
        `the references to the target's prefix lists count as their MaxEntries against ${groupId}'s quota: ${weights.join(' + ')} = ${weights.reduce((a, b) => a + b, 0)}, ` +
          `with ${group.unowned} used by other rules, of ${group.quota}. Lower the lists' MaxEntries, or raise the "Inbound rules per security group" quota and maxRulesPerGroup; nothing was changed.`,
      ],
    };
  });

  if (listPlan.status === 'insufficient-capacity') return listPlan;
  const failed = groupPlans.find((p) => p.status === 'insufficient-capacity');
  if (failed) {
    const groups = [...listPlan.groups, ...groupPlans.flatMap((p) => p.groups)];
    return { ...listPlan, status: 'insufficient-capacity', groupsNeeded: failed.groupsNeeded, notes: [...listPlan.notes, ...failed.notes], groups: groups.map((g) => ({ ...g, add: [], remove: [], adopt: [], rulesAfter: g.rulesBefore, removeFirst: false })) };
  }
  const safe = makeBeforeBreak(
    target,
    listPlan.groups,
    normalized.filter((r) => isPrefixListId(r.groupId)),
    groupPlans.flatMap((p) => p.groups),
    groupRules.filter((r) => !isPrefixListId(r.groupId)),
    new Set(byCidr.keys()),
  );
  const groups = [...listPlan.groups, ...safe.groups];
  const notes = [...listPlan.notes, ...safe.notes];
  const changed = groups.some((g) => g.add.length > 0 || g.remove.length > 0 || g.adopt.length > 0);
  const status: PlanStatus = listPlan.held ? 'held' : changed ? 'changes' : safe.deferred > 0 ? 'held' : 'in-sync';
  return { ...listPlan, groups, notes, status, ...(safe.deferred > 0 ? { deferred: safe.deferred } : {}) };
}

/**
 * Make-before-break for prefix-list mode (a switch from rules, or a list added): a group's CIDR rule that still
 * admits a desired range is removed only when something that is not removed in the same plan admits it too: a
 * reference (already there, or added before any removal) to a list that holds the range once modified, or the
 * same rule in another group. A group that must make room before adding its references (remove-first) does so
 * only when all its removals are covered; otherwise, when the other groups have room, its rules are first copied
 * there (a batch the next run removes again once the reference admits them), else it waits and says what would
 * make the change safe. Each plan is safe on its own; the switch completes over a few runs.
 */
function makeBeforeBreak(
  target: IpRangeTargetConfig,
  listGroups: readonly GroupPlan[],
  listEntries: readonly ObservedRule[],
  groupPlans: readonly GroupPlan[],
  groupRules: readonly ObservedRule[],
  desiredCidrs: ReadonlySet<string>,
): { groups: GroupPlan[]; notes: string[]; deferred: number } {
  // What each list holds once modified (the applier waits for modify-complete before touching a group).
  const listsOf = new Map<string, string[]>();
  const after = new Map<string, Set<string>>();
  for (const e of listEntries) if (e.cidr) (after.get(e.groupId) ?? after.set(e.groupId, new Set()).get(e.groupId)!).add(e.cidr);
  for (const g of listGroups) {
    const set = after.get(g.groupId) ?? after.set(g.groupId, new Set()).get(g.groupId)!;
    for (const r of g.remove) set.delete(r.cidr);
    for (const r of g.add) set.add(r.cidr);
  }
  for (const [id, set] of after) for (const cidr of set) (listsOf.get(cidr) ?? listsOf.set(cidr, []).get(cidr)!).push(id);

  const copyFamilies = (g: GroupPlan) => ({ ipv4: { ...g.families.ipv4 }, ipv6: { ...g.families.ipv6 } });
  const plans = groupPlans.map((g) => ({ ...g, add: [...g.add], remove: [...g.remove], families: copyFamilies(g) }));
  // A change withheld here is not made: the group's use after the plan counts it as not made (sign -1 for a
  // withheld addition, +1 for a withheld removal).
  const withhold = (g: GroupPlan, rules: readonly PlannedRule[], sign: number) => {
    const d = zero();
    for (const r of rules) addCost(d, r as DesiredRule, sign);
    g.families.ipv4.after += d.ipv4;
    g.families.ipv6.after += d.ipv6;
    g.rulesAfter = maxOf({ ipv4: g.families.ipv4.after, ipv6: g.families.ipv6.after });
  };
  const removedIds = new Set(plans.flatMap((g) => g.remove.map((r) => r.ruleId)).filter((id): id is string => id !== undefined));
  const ports = new Set(target.ports);
  // Coverage that survives the plan: references kept or added first; CIDR rules kept or added first (per group).
  const refs = new Set<string>();
  const rulesIn = new Map<string, Set<string>>();
  const cover = (groupId: string, r: { protocol: string; fromPort: number; toPort: number; cidr?: string }) => {
    if (r.cidr === undefined) return;
    const k = `${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`;
    if (isPrefixListId(r.cidr)) refs.add(k);
    else (rulesIn.get(k) ?? rulesIn.set(k, new Set()).get(k)!).add(groupId);
  };
  for (const r of groupRules) if (!r.ruleId || !removedIds.has(r.ruleId)) cover(r.groupId, r);
  for (const g of plans) if (!g.removeFirst) for (const r of g.add) cover(g.groupId, r);
  const covered = (groupId: string, r: PlannedRule) => {
    if (isPrefixListId(r.cidr) || !desiredCidrs.has(r.cidr) || r.protocol !== target.protocol || r.fromPort !== r.toPort || !ports.has(r.fromPort)) return true;
    if ((listsOf.get(r.cidr) ?? []).some((id) => refs.has(`${r.protocol}|${r.fromPort}|${r.toPort}|${id}`))) return true;
    const holders = rulesIn.get(`${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`);
    return holders !== undefined && [...holders].some((h) => h !== groupId);
  };

  const notes: string[] = [];
  let deferred = 0;
  const blocked: Array<{ plan: GroupPlan; original: GroupPlan; waiting: PlannedRule[] }> = [];
  for (const g of plans) {
    const waiting = g.remove.filter((r) => !covered(g.groupId, r));
    if (waiting.length === 0) continue;
    if (g.removeFirst) {
      blocked.push({ plan: g, original: { ...g, add: [...g.add], remove: [...g.remove], families: copyFamilies(g) }, waiting });
      deferred += waiting.length + g.add.length;
      withhold(g, g.add, -1);
      g.add = [];
      g.removeFirst = false;
    } else {
      deferred += waiting.length;
    }
    withhold(g, waiting, 1);
    g.remove = g.remove.filter((r) => !waiting.includes(r));
  }

  // A blocked group whose waiting rules fit the other groups' room now: copy them there first, then it can switch.
  const refsAdded = plans.some((g) => g.add.some((r) => isPrefixListId(r.cidr)));
  for (const b of blocked) {
    // Any other group can host copies beside its current rules (a blocked one adds nothing else this run).
    const hosts = plans.filter((g) => g !== b.plan);
    const room = new Map(hosts.map((h) => {
      const used = { ipv4: h.families.ipv4.before, ipv6: h.families.ipv6.before };
      for (const r of h.add) addCost(used, r);
      return [h.groupId, { ipv4: h.quota - used.ipv4, ipv6: h.quota - used.ipv6 }];
    }));
    const copies = new Map<string, PlannedRule[]>();
    let placed = 0;
    for (const r of b.waiting) {
      const host = hosts.find((h) => fits(room.get(h.groupId)!, r));
      if (!host) break;
      addCost(room.get(host.groupId)!, r, -1);
      (copies.get(host.groupId) ?? copies.set(host.groupId, []).get(host.groupId)!).push({ cidr: r.cidr, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, description: r.description });
      placed += 1;
    }
    if (placed === b.waiting.length && !refsAdded) {
      for (const h of hosts) {
        const add = copies.get(h.groupId);
        if (!add) continue;
        h.add.push(...add);
        for (const r of add) {
          const use = h.families[costFamily(r) === 'ipv6' ? 'ipv6' : 'ipv4'];
          use.after += ruleWeight(r as DesiredRule);
        }
        h.rulesAfter = Math.max(h.families.ipv4.after, h.families.ipv6.after);
      }
      b.plan.add = b.original.add;
      b.plan.remove = b.original.remove;
      b.plan.families = b.original.families;
      b.plan.rulesAfter = b.original.rulesAfter;
      b.plan.removeFirst = true;
      deferred -= b.waiting.length + b.original.add.length;
      notes.push(
        `${b.plan.groupId} has no room for its prefix-list references beside its ${b.waiting.length} CIDR rules: they are copied to ${[...copies.keys()].join(', ')} first, ` +
          `then removed from ${b.plan.groupId}, which then references the lists; the copies go once the references admit their ranges.`,
      );
      break;
    }
    const refWeight = b.original.add.reduce((n, r) => n + ruleWeight(r as DesiredRule), 0);
    const room0 = b.plan.quota - Math.max(b.plan.families.ipv4.before, b.plan.families.ipv6.before);
    notes.push(
      `${b.plan.groupId} cannot reference the prefix lists (${refWeight} rules against its quota) beside its current rules (${room0} free) without first removing ${b.waiting.length} rules that still admit desired ranges: ` +
        (refsAdded
          ? `it switches once another group's references admit them (the next run).`
          : `add a spare security group with ${refWeight} free rules to securityGroupIds, or raise the quota and maxRulesPerGroup by ${refWeight - room0}; nothing that admits traffic was removed.`),
    );
  }
  if (deferred > 0) notes.push(`${deferred} changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.`);
  return { groups: plans, notes, deferred };
}

export const CLOUDFRONT_MANAGED_PREFIX_LIST = 'com.amazonaws.global.cloudfront.origin-facing';
/** AWS also publishes CloudFront's IPv6 origin-facing ranges as a managed list. */
export const CLOUDFRONT_MANAGED_PREFIX_LIST_IPV6 = 'com.amazonaws.global.ipv6.cloudfront.origin-facing';

/**
 * When a target admits exactly CloudFront's origin-facing ranges, AWS's managed prefix lists do the same job
 * without any reconciling (AWS keeps them current): one per family the target admits; a reference to one counts
 * as its max entries (about 55) against the group's quota, in each family.
 */
export function managedPrefixListAdvice(target: IpRangeTargetConfig): string | undefined {
  const [only, ...others] = target.sources;
  if (others.length > 0 || only.type !== 'aws' || only.regions) return undefined;
  if (only.services.length !== 1 || only.services[0] !== 'CLOUDFRONT_ORIGIN_FACING') return undefined;
  const lists = [
    ...(target.ipVersions.includes('ipv4') ? [`${CLOUDFRONT_MANAGED_PREFIX_LIST} (IPv4)`] : []),
    ...(target.ipVersions.includes('ipv6') ? [`${CLOUDFRONT_MANAGED_PREFIX_LIST_IPV6} (IPv6)`] : []),
  ];
  return (
    `target "${target.name}" admits only CLOUDFRONT_ORIGIN_FACING: AWS's managed prefix list${lists.length === 1 ? '' : 's'} ${lists.join(' and ')} ` +
    `could replace these rules with ${lists.length === 1 ? 'one reference' : 'one reference each'} that AWS keeps current (each counts as about 55 rules against the quota, in each family).`
  );
}
