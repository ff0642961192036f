/**
 * The planner's exact plans and words where the integration tests only look at the outcome: the switch from rules
 * to prefix-list mode (make-before-break) run after run, with every desired range admitted before every write and
 * the quota use the plan reports; the removal and growth guards' reasons; the capacity notes. Pure, no emulator.
 */
import { describe, expect, it } from 'vitest';
import { IpRangeTargetSchema, type IpRangeTargetConfig } from '../../lambdas/config.ts';
import {
  costFamily,
  fingerprintRules,
  managedPrefixListAdvice,
  planRuleChanges,
  planTarget,
  ruleWeight,
  type ObservedRule,
  type PlanInput,
  type RulePlan,
} from '../../lambdas/core/range-planner.ts';

const CIDRS = Array.from({ length: 4 }, (_, i) => `198.18.${i}.0/24`);
const LIST = { id: 'pl-0a', family: 'ipv4' as const, maxEntries: 4 };

function prefixTarget(groupIds: string[], overrides: Record<string, unknown> = {}): IpRangeTargetConfig {
  return IpRangeTargetSchema.parse({
    name: 'edge',
    mode: 'prefix-list',
    prefixListIds: ['pl-0a'],
    securityGroupIds: groupIds,
    maxRulesPerGroup: 8,
    ports: [443],
    sources: [{ type: 'static', cidrs: CIDRS }],
    ...overrides,
  });
}

/**
 * An account in memory: groups and a prefix list. `apply` writes a plan in the adapter's order (the lists first,
 * then additions, removals, and the additions of groups that remove first) and checks before every write that
 * every desired range is admitted, by a CIDR rule or by a reference to the list, and that no group is over quota.
 */
class Account {
  rules: ObservedRule[] = [];
  gaps: string[] = [];
  writes = 0;
  private n = 1;
  constructor(readonly quota: number) {}
  add(rule: Omit<ObservedRule, 'ruleId'>) {
    this.rules.push({ ...rule, ruleId: `sgr-${this.n++}` });
  }
  admitted(): Set<string> {
    const list = new Set(this.rules.filter((r) => r.groupId === 'pl-0a').map((r) => r.cidr!));
    const open = new Set<string>();
    for (const r of this.rules) {
      if (r.groupId.startsWith('pl-') || r.protocol !== 'tcp' || r.fromPort !== 443) continue;
      if (r.cidr === 'pl-0a') for (const c of list) open.add(c);
      else open.add(r.cidr!);
    }
    return open;
  }
  use(groupId: string) {
    const u = { ipv4: 0, ipv6: 0 };
    for (const r of this.rules.filter((x) => x.groupId === groupId)) {
      const w = r.cidr === 'pl-0a' ? LIST.maxEntries : 1;
      const f = costFamily(r);
      if (f !== 'ipv6') u.ipv4 += w;
      if (f !== 'ipv4') u.ipv6 += w;
    }
    return u;
  }
  private check(when: string) {
    const open = this.admitted();
    const missing = CIDRS.filter((c) => !open.has(c));
    if (missing.length) this.gaps.push(`${when}: ${missing.join(', ')}`);
    for (const g of new Set(this.rules.map((r) => r.groupId))) {
      if (g.startsWith('pl-')) continue;
      const u = this.use(g);
      if (Math.max(u.ipv4, u.ipv6) > this.quota) this.gaps.push(`${when}: ${g} over quota`);
    }
  }
  apply(plan: RulePlan) {
    const write = (what: string, fn: () => void) => {
      this.check(`before ${what}`);
      this.writes += 1;
      fn();
    };
    const adds = (g: RulePlan['groups'][number]) =>
      g.add.length &&
      write(`add to ${g.groupId}`, () => {
        for (const r of g.add) this.add({ groupId: g.groupId, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, cidr: r.cidr, description: r.description });
      });
    const removes = (g: RulePlan['groups'][number]) =>
      g.remove.length &&
      write(`remove from ${g.groupId}`, () => {
        const ids = new Set(g.remove.map((r) => r.ruleId));
        this.rules = this.rules.filter((r) => !(r.groupId === g.groupId && ids.has(r.ruleId)));
      });
    const lists = plan.groups.filter((g) => g.groupId.startsWith('pl-'));
    const groups = plan.groups.filter((g) => !g.groupId.startsWith('pl-'));
    for (const g of lists) adds(g), removes(g);
    for (const g of groups) if (!g.removeFirst) adds(g);
    for (const g of groups) removes(g);
    for (const g of groups) if (g.removeFirst) adds(g);
    this.check('after the run');
  }
}

function plan(account: Account, target: IpRangeTargetConfig, lists = [LIST]) {
  return planTarget(target, [{ source: 'static', label: 'static', cidrs: CIDRS }], account.rules, { prefixLists: lists });
}

const summary = (p: RulePlan) =>
  p.groups.map((g) => ({ group: g.groupId, add: g.add.map((r) => r.cidr), remove: g.remove.map((r) => r.cidr), removeFirst: g.removeFirst, before: g.rulesBefore, after: g.rulesAfter }));

/** Two groups of quota 8, each with 4 unowned rules and 2 of the 4 ranges as owned rules (the state of `rules` mode). */
function twoFullGroups() {
  const account = new Account(8);
  for (const [i, g] of ['sg-01', 'sg-02'].entries()) {
    for (let k = 0; k < 4; k++) account.add({ groupId: g, protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `10.${i}.${k}.0/24`, description: 'office' });
    for (const cidr of CIDRS.slice(i * 2, i * 2 + 2)) account.add({ groupId: g, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' });
  }
  return account;
}

describe('switch to prefix-list mode: make-before-break, run by run', () => {
  it('two full groups: copies one group\'s rules to the other first, then swaps each group, never leaving a range unadmitted', () => {
    const account = twoFullGroups();
    const target = prefixTarget(['sg-01', 'sg-02']);

    const first = plan(account, target);
    expect(first.status).toBe('changes');
    expect(first.deferred).toBe(3);
    expect(first.notes).toEqual([
      'sg-01 has no room for its prefix-list references beside its 2 CIDR rules: they are copied to sg-02 first, then removed from sg-01, which then references the lists; the copies go once the references admit their ranges.',
      '3 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    ]);
    expect(summary(first)).toEqual([
      { group: 'pl-0a', add: CIDRS, remove: [], removeFirst: false, before: 0, after: 4 },
      { group: 'sg-01', add: ['pl-0a'], remove: CIDRS.slice(0, 2), removeFirst: true, before: 6, after: 8 },
      // sg-02 waits: it only takes the copies (6 + 2 = 8, its quota), its own switch comes next run.
      { group: 'sg-02', add: CIDRS.slice(0, 2), remove: [], removeFirst: false, before: 6, after: 8 },
    ]);
    expect(first.groups.find((g) => g.groupId === 'sg-02')!.families).toEqual({
      ipv4: { before: 6, after: 8, unowned: 4, quota: 8 },
      ipv6: { before: 0, after: 0, unowned: 0, quota: 8 },
    });
    expect(first.groups.find((g) => g.groupId === 'sg-01')!.families.ipv6).toEqual({ before: 0, after: 4, unowned: 0, quota: 8 });
    account.apply(first);
    for (const g of ['sg-01', 'sg-02']) expect(Math.max(account.use(g).ipv4, account.use(g).ipv6)).toBe(first.groups.find((x) => x.groupId === g)!.rulesAfter);

    const second = plan(account, target);
    expect(second.status).toBe('changes');
    expect(second.deferred).toBeUndefined();
    expect(second.notes).toEqual([]);
    expect(summary(second)).toEqual([
      { group: 'pl-0a', add: [], remove: [], removeFirst: false, before: 4, after: 4 },
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 8, after: 8 },
      { group: 'sg-02', add: ['pl-0a'], remove: [CIDRS[2], CIDRS[3], CIDRS[0], CIDRS[1]], removeFirst: true, before: 8, after: 8 },
    ]);
    account.apply(second);

    expect(plan(account, target).status).toBe('in-sync');
    expect(account.gaps).toEqual([]);
    expect(account.rules.filter((r) => r.description === 'origin-guard:edge:static' && !r.groupId.startsWith('pl-'))).toEqual([]);
  });

  it('one full group: fills the list, removes nothing, says what would make it safe, and is held until a spare group comes', () => {
    const account = new Account(8);
    for (let k = 0; k < 4; k++) account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `10.0.${k}.0/24`, description: 'office' });
    for (const cidr of CIDRS) account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' });
    const note =
      'sg-01 cannot reference the prefix lists (4 rules against its quota) beside its current rules (0 free) without first removing 4 rules that still admit desired ranges: ' +
      'add a spare security group with 4 free rules to securityGroupIds, or raise the quota and maxRulesPerGroup by 4; nothing that admits traffic was removed.';
    const wait = '5 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.';

    const first = plan(account, prefixTarget(['sg-01']));
    expect(first).toMatchObject({ status: 'changes', deferred: 5, notes: [note, wait] });
    // The group keeps its rules and adds nothing: its use after the plan is its use now.
    expect(summary(first)[1]).toEqual({ group: 'sg-01', add: [], remove: [], removeFirst: false, before: 8, after: 8 });
    expect(first.groups[1].families).toEqual({ ipv4: { before: 8, after: 8, unowned: 4, quota: 8 }, ipv6: { before: 0, after: 0, unowned: 0, quota: 8 } });
    account.apply(first);
    const writes = account.writes;

    const second = plan(account, prefixTarget(['sg-01']));
    expect(second).toMatchObject({ status: 'held', deferred: 5, notes: [note, wait] });
    account.apply(second);
    expect(account.writes).toBe(writes);

    // With a spare group, the switch completes in two more runs.
    const target = prefixTarget(['sg-01', 'sg-02']);
    for (let i = 0; i < 3 && plan(account, target).status !== 'in-sync'; i++) account.apply(plan(account, target));
    expect(plan(account, target).status).toBe('in-sync');
    expect(account.gaps).toEqual([]);
  });

  it('a full group waits for another group\'s new references when there is no room to copy its rules', () => {
    const account = new Account(8);
    // sg-01: full of rules no longer desired, so it removes them first and references the list.
    for (let k = 0; k < 4; k++) account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `10.0.${k}.0/24`, description: 'office' });
    for (const cidr of ['203.0.113.0/24', '203.0.113.1/32']) account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' });
    // sg-02: full, with all four desired ranges.
    for (let k = 0; k < 4; k++) account.add({ groupId: 'sg-02', protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `10.1.${k}.0/24`, description: 'office' });
    for (const cidr of CIDRS) account.add({ groupId: 'sg-02', protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' });
    const target = prefixTarget(['sg-01', 'sg-02']);

    const first = plan(account, target);

    expect(first.notes).toEqual([
      'sg-02 cannot reference the prefix lists (4 rules against its quota) beside its current rules (0 free) without first removing 4 rules that still admit desired ranges: ' +
        "it switches once another group's references admit them (the next run).",
      '5 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    ]);
    expect(summary(first).slice(1)).toEqual([
      { group: 'sg-01', add: ['pl-0a'], remove: ['203.0.113.0/24', '203.0.113.1/32'], removeFirst: true, before: 6, after: 8 },
      { group: 'sg-02', add: [], remove: [], removeFirst: false, before: 8, after: 8 },
    ]);
    account.apply(first);
    const second = plan(account, target);
    expect(summary(second)[2]).toMatchObject({ group: 'sg-02', add: ['pl-0a'], removeFirst: true });
    account.apply(second);
    expect(plan(account, target).status).toBe('in-sync');
    expect(account.gaps).toEqual([]);
  });

  it('a rule on another port, or a stale range, is removed at once: a reference does not replace it', () => {
    const account = new Account(60);
    account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 8443, toPort: 8443, cidr: CIDRS[0], description: 'origin-guard:edge:static' });
    account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '203.0.113.0/24', description: 'origin-guard:edge:static' });
    account.add({ groupId: 'sg-01', protocol: 'udp', fromPort: 443, toPort: 443, cidr: CIDRS[1], description: 'origin-guard:edge:static' });
    account.add({ groupId: 'sg-01', protocol: 'tcp', fromPort: 443, toPort: 444, cidr: CIDRS[2], description: 'origin-guard:edge:static' });
    const p = plan(account, prefixTarget(['sg-01'], { maxRulesPerGroup: 60 }));
    expect(p.deferred).toBeUndefined();
    expect(summary(p)[1]).toEqual({ group: 'sg-01', add: ['pl-0a'], remove: [CIDRS[0], '203.0.113.0/24', CIDRS[1], CIDRS[2]], removeFirst: false, before: 4, after: 4 });
  });

  it('a feed jump holds the list: a group\'s rules for the new ranges stay until the list admits them', () => {
    // The list holds 10 ranges and the group references it; the group still has rules for 21 more (from rules mode),
    // and the feed now lists all 31: more than maxGrowthFactor 3 times the list, so the list changes nothing.
    const old = Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`);
    const more = Array.from({ length: 21 }, (_, i) => `10.1.${i}.0/24`);
    const rules: ObservedRule[] = [
      ...old.map((cidr) => ({ groupId: 'pl-0a', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr, description: 'origin-guard:edge:static' })),
      { groupId: 'sg-01', ruleId: 'sgr-ref', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: 'pl-0a', description: 'origin-guard:edge:prefix-list' },
      ...more.map((cidr) => ({ groupId: 'sg-01', ruleId: `sgr-${cidr}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' })),
    ];
    const target = prefixTarget(['sg-01'], { maxRulesPerGroup: 100 });
    const p = planTarget(target, [{ source: 'static', label: 'static', cidrs: [...old, ...more] }], rules, { prefixLists: [{ id: 'pl-0a', family: 'ipv4', maxEntries: 40 }] });
    expect(p.status).toBe('held');
    expect(p.deferred).toBe(21);
    expect(p.notes).toEqual([
      'the set grows from 10 to 31 rules, more than maxGrowthFactor 3: nothing is added or removed. Applied with --force, or once the same set is confirmed by later runs.',
      '21 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    ]);
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: [], remove: [], removeFirst: false, before: 10, after: 10 },
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 61, after: 61 },
    ]);
  });
});

describe('guards: exact reasons', () => {
  const rule = (cidr: string, label = 'aws', groupId = 'sg-01'): ObservedRule => ({ groupId, ruleId: `sgr-${cidr}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: `origin-guard:edge:${label}` });
  const want = (cidr: string, label = 'aws') => ({ cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description: `origin-guard:edge:${label}` });
  const cidrs = (n: number, third = 0) => Array.from({ length: n }, (_, i) => `10.${third}.${i}.0/24`);
  const input = (over: Partial<PlanInput>): PlanInput => ({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 1000, maxRemovalFraction: 0.3, desired: [], observed: [], ...over });

  it('a removal above maxRemovalFraction: held, with the fraction to a tenth of a percent, and additions still planned', () => {
    const p = planRuleChanges(input({ observed: cidrs(3).map((c) => rule(c)), desired: [want(cidrs(3)[0]), want('192.0.2.0/24')] }));
    expect(p).toMatchObject({ status: 'held', held: true, ownedCount: 3, staleCount: 2, guardReason: '2 of 3 owned rules (66.7%)' });
    expect(p.removalFraction).toBeCloseTo(2 / 3, 10);
    expect(p.notes).toEqual([
      'would remove 2 of 3 owned rules (66.7%), above maxRemovalFraction 0.3: removals held, additions applied. ' +
        'They are applied with --force or when the same set is confirmed (a later version, or for sources without versions, later runs over removalGuardHours).',
    ]);
    expect(p.desiredFingerprint).toBe(fingerprintRules(['tcp|443|443|10.0.0.0/24', 'tcp|443|443|192.0.2.0/24']));
    expect(summary(p)).toEqual([{ group: 'sg-01', add: ['192.0.2.0/24'], remove: [], removeFirst: false, before: 3, after: 4 }]);

    // Exactly at the fraction is not above it.
    const at = planRuleChanges(input({ observed: cidrs(10).map((c) => rule(c)), desired: cidrs(7).map((c) => want(c)) }));
    expect(at).toMatchObject({ status: 'changes', held: false });
    expect(at.guardReason).toBeUndefined();
    expect(at.desiredFingerprint).toBeUndefined();
  });

  it('forced, or confirmed by the same set: applied, and the note says why', () => {
    const base = input({ observed: cidrs(3).map((c) => rule(c)), desired: [want(cidrs(3)[0])] });
    const forced = planRuleChanges({ ...base, force: true });
    expect(forced.notes).toEqual(['removes 2 of 3 owned rules (66.7%), above maxRemovalFraction 0.3: applied because of --force']);
    expect(forced).toMatchObject({ status: 'changes', held: false });
    const fp = planRuleChanges(base).desiredFingerprint!;
    const confirmed = planRuleChanges({ ...base, heldFingerprint: fp });
    expect(confirmed.notes).toEqual(['removes 2 of 3 owned rules (66.7%): applied because the same shrunken set was seen in two consecutive versions']);
    expect(summary(confirmed)[0].remove).toEqual([cidrs(3)[1], cidrs(3)[2]]);
    expect(planRuleChanges({ ...base, heldFingerprint: 'something-else' }).held).toBe(true);
  });

  it('a source losing every rule is held even when the target loses little; its reason names it', () => {
    const observed = [...cidrs(20).map((c) => rule(c)), rule('192.0.2.1/32', 'konnect')];
    const p = planRuleChanges(input({ observed, desired: cidrs(20).map((c) => want(c)) }));
    expect(p.guardReason).toBe('source konnect: all 1 of its rules');
    expect(p.held).toBe(true);
    // With maxRemovalFraction 1 nothing is above it.
    expect(planRuleChanges(input({ observed, desired: cidrs(20).map((c) => want(c)), maxRemovalFraction: 1 })).held).toBe(false);
    // Both reasons, target first, sources in name order.
    const both = planRuleChanges(input({ observed: [rule('192.0.2.1/32', 'zeta'), rule('192.0.2.2/32', 'alpha')], desired: [] }));
    expect(both.guardReason).toBe('2 of 2 owned rules (100%); source alpha: all 1 of its rules; source zeta: all 1 of its rules');
  });

  it('growth and shrink beyond maxGrowthFactor: nothing added or removed, reported per group as it stands', () => {
    const observed = cidrs(10).map((c) => rule(c));
    const grow = planRuleChanges(input({ observed, desired: [...cidrs(10), ...cidrs(21, 1)].map((c) => want(c)), maxGrowthFactor: 3 }));
    expect(grow.guardReason).toBe('the set grows from 10 to 31 rules, more than maxGrowthFactor 3');
    expect(grow.notes).toEqual(['the set grows from 10 to 31 rules, more than maxGrowthFactor 3: nothing is added or removed. Applied with --force, or once the same set is confirmed by later runs.']);
    expect(grow).toMatchObject({ status: 'held', held: true, capacity: 0, groupsNeeded: 0, desiredCount: 31, ownedCount: 10, staleCount: 0, removalFraction: 0 });
    expect(grow.groups).toEqual([
      {
        groupId: 'sg-01',
        add: [],
        remove: [],
        adopt: [],
        matchedUnowned: 0,
        rulesBefore: 10,
        rulesAfter: 10,
        unowned: 0,
        quota: 1000,
        removeFirst: false,
        families: { ipv4: { before: 10, after: 10, unowned: 0, quota: 1000 }, ipv6: { before: 0, after: 0, unowned: 0, quota: 1000 } },
      },
    ]);
    // Exactly three times is not beyond it; nor is a third.
    expect(planRuleChanges(input({ observed, desired: [...cidrs(10), ...cidrs(20, 1)].map((c) => want(c)), maxGrowthFactor: 3 })).status).toBe('changes');
    const shrink = planRuleChanges(input({ observed: cidrs(12).map((c) => rule(c)), desired: cidrs(3).map((c) => want(c)), maxGrowthFactor: 3, maxRemovalFraction: 1 }));
    expect(shrink.guardReason).toBe('the set shrinks from 12 to 3 rules, more than maxGrowthFactor 3');
    expect(planRuleChanges(input({ observed: cidrs(12).map((c) => rule(c)), desired: cidrs(4).map((c) => want(c)), maxGrowthFactor: 3, maxRemovalFraction: 1 })).status).toBe('changes');
    // Below 10 owned rules the factor is not judged.
    expect(planRuleChanges(input({ observed: cidrs(9).map((c) => rule(c)), desired: cidrs(40).map((c) => want(c)), maxGrowthFactor: 3 })).status).toBe('changes');
    // Forced: applied.
    expect(planRuleChanges(input({ observed, desired: [...cidrs(10), ...cidrs(21, 1)].map((c) => want(c)), maxGrowthFactor: 3, force: true })).status).toBe('changes');
  });
});

describe('capacity: exact notes', () => {
  const want = (cidr: string) => ({ cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:aws' });

  it('says how many groups are missing, per family, singular and plural', () => {
    const v4 = Array.from({ length: 5 }, (_, i) => `10.0.${i}.0/24`);
    const v6 = Array.from({ length: 3 }, (_, i) => `2001:db8:${i}::/48`);
    const p = planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 2, maxRemovalFraction: 0.3, desired: [...v4, ...v6].map(want), observed: [] });
    expect(p).toMatchObject({ status: 'insufficient-capacity', groupsNeeded: 2, capacity: 4 });
    expect(p.notes).toEqual([
      '8 rules do not fit: the 1 security groups hold 4 after their unowned entries (quota 2 each per family) (3 IPv4, 1 IPv6 missing). Add 2 more security groups to the target; nothing was changed.',
    ]);
    expect(summary(p)).toEqual([{ group: 'sg-01', add: [], remove: [], removeFirst: false, before: 0, after: 0 }]);
    const one = planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 2, maxRemovalFraction: 0.3, desired: v4.slice(0, 3).map(want), observed: [] });
    expect(one.notes[0]).toBe('3 rules do not fit: the 1 security groups hold 2 after their unowned entries (quota 2 each per family) (1 IPv4 missing). Add 1 more security group to the target; nothing was changed.');
  });

  it('a held shrink whose union does not fit: adds what fits the free room and says how many follow', () => {
    const owned = Array.from({ length: 4 }, (_, i) => `10.0.${i}.0/24`);
    const observed = owned.map((cidr) => ({ groupId: 'sg-01', ruleId: `sgr-${cidr}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:aws' }));
    const desired = [owned[0], '192.0.2.0/24', '192.0.3.0/24', '192.0.4.0/24'].map(want);
    const p = planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 5, maxRemovalFraction: 0.3, desired, observed });
    expect(p.status).toBe('held');
    expect(p.notes[1]).toBe(
      'the old and the new set together (7 rules) do not fit the 1 security groups (5 after their unowned entries); the new set alone fits. ' +
        '1 of the 3 new rules fit the free room and are added; the other 2 are added once the shrink is applied; nothing is removed.',
    );
    expect(summary(p)).toEqual([{ group: 'sg-01', add: ['192.0.2.0/24'], remove: [], removeFirst: false, before: 4, after: 5 }]);
    const roomy = planRuleChanges({ target: 'edge', groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 3, maxRemovalFraction: 0.3, desired, observed });
    expect(roomy.notes[1]).toBe(
      'the old and the new set together (7 rules) do not fit the 2 security groups (6 after their unowned entries); the new set alone fits. 3 of the 3 new rules fit the free room and are added; nothing is removed.',
    );
  });

  it('managed prefix list advice: one list or two, and none for other sources', () => {
    const t = (over: Record<string, unknown>) => IpRangeTargetSchema.parse({ name: 'edge', securityGroupIds: ['sg-01'], ports: [443], sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }], ...over });
    expect(managedPrefixListAdvice(t({ ipVersions: ['ipv4'] }))).toBe(
      'target "edge" admits only CLOUDFRONT_ORIGIN_FACING: AWS\'s managed prefix list com.amazonaws.global.cloudfront.origin-facing (IPv4) could replace these rules with one reference that AWS keeps current (each counts as about 55 rules against the quota, in each family).',
    );
    expect(managedPrefixListAdvice(t({ ipVersions: ['ipv6'] }))).toContain("managed prefix list com.amazonaws.global.ipv6.cloudfront.origin-facing (IPv6) could replace these rules with one reference");
    expect(managedPrefixListAdvice(t({}))).toContain(
      "managed prefix lists com.amazonaws.global.cloudfront.origin-facing (IPv4) and com.amazonaws.global.ipv6.cloudfront.origin-facing (IPv6) could replace these rules with one reference each",
    );
    expect(managedPrefixListAdvice(t({ sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], regions: ['GLOBAL'] }] }))).toBeUndefined();
    expect(managedPrefixListAdvice(t({ sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING', 'CLOUDFRONT'] }] }))).toBeUndefined();
    expect(managedPrefixListAdvice(t({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }] }))).toBeUndefined();
    expect(managedPrefixListAdvice(t({ sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }, { type: 'static', cidrs: ['10.0.0.0/8'] }] }))).toBeUndefined();
    expect(managedPrefixListAdvice(t({ sources: [{ type: 'static', cidrs: ['10.0.0.0/8'] }] }))).toBeUndefined();
  });

  it('a rule\'s weight and families: a reference counts in both', () => {
    expect(ruleWeight({})).toBe(1);
    expect(ruleWeight({ weight: 55 })).toBe(55);
    expect([costFamily({ cidr: '10.0.0.0/8' }), costFamily({ cidr: '2001:db8::/32' }), costFamily({ cidr: 'pl-0a' }), costFamily({})]).toEqual(['ipv4', 'ipv6', 'both', 'both']);
  });
});

describe('planRuleChanges: what counts and in which order', () => {
  const r = (cidr: string | undefined, groupId = 'sg-01', description = 'origin-guard:edge:aws', fromPort = 443): ObservedRule => ({
    groupId,
    ruleId: `sgr-${groupId}-${cidr}-${fromPort}`,
    protocol: 'tcp',
    fromPort,
    toPort: fromPort,
    ...(cidr === undefined ? {} : { cidr }),
    description,
  });
  const want = (cidr: string, fromPort = 443, toPort = fromPort) => ({ cidr, protocol: 'tcp', fromPort, toPort, description: 'origin-guard:edge:aws' });
  const input = (over: Partial<PlanInput>): PlanInput => ({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 60, maxRemovalFraction: 1, desired: [], observed: [], ...over });

  it('adds in CIDR, then port order, whatever the feed order', () => {
    const p = planRuleChanges(input({ desired: [want('10.0.2.0/24', 80), want('10.0.1.0/24', 443), want('10.0.1.0/24', 80, 81), want('10.0.1.0/24', 80), want('10.0.0.0/24', 443)] }));
    expect(p.groups[0].add.map((x) => `${x.cidr}:${x.fromPort}-${x.toPort}`)).toEqual(['10.0.0.0/24:443-443', '10.0.1.0/24:80-80', '10.0.1.0/24:80-81', '10.0.1.0/24:443-443', '10.0.2.0/24:80-80']);
  });

  it('counts distinct desired rules, ignores repeated groups and rules of other groups', () => {
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-01'], desired: [want('10.0.0.0/24'), want('10.0.0.0/24'), want('10.0.1.0/24')], observed: [r('10.0.9.0/24', 'sg-99')] }));
    expect(p.desiredCount).toBe(2);
    expect(p.groups.map((g) => g.groupId)).toEqual(['sg-01']);
    expect(p.ownedCount).toBe(0);
    expect(p.removalFraction).toBe(0);
    expect(p.capacity).toBe(60);
  });

  it('an owned rule copied in two groups counts once and its second copy goes', () => {
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], desired: [want('10.0.0.0/24')], observed: [r('10.0.0.0/24', 'sg-01'), r('10.0.0.0/24', 'sg-02')] }));
    expect(p).toMatchObject({ ownedCount: 1, staleCount: 0, status: 'changes' });
    expect(summary(p)).toEqual([
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 1, after: 1 },
      { group: 'sg-02', add: [], remove: ['10.0.0.0/24'], removeFirst: false, before: 1, after: 0 },
    ]);
  });

  it('an owned rule that references a group (no CIDR) is not desired: removed, counted in both families', () => {
    const p = planRuleChanges(input({ desired: [want('10.0.0.0/24')], observed: [r(undefined)] }));
    expect(p.groups[0].remove).toEqual([{ cidr: '', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:aws', ruleId: 'sgr-sg-01-undefined-443' }]);
    expect(p.groups[0].families).toEqual({ ipv4: { before: 1, after: 1, unowned: 0, quota: 60 }, ipv6: { before: 1, after: 0, unowned: 0, quota: 60 } });
    // An unowned one only uses quota, in both families.
    const u = planRuleChanges(input({ maxRulesPerGroup: 2, desired: [want('10.0.0.0/24'), want('10.0.1.0/24')], observed: [r(undefined, 'sg-01', 'by hand')] }));
    expect(u).toMatchObject({ status: 'insufficient-capacity', capacity: 1 });
  });

  it('a hand-made copy of a rule already in place is neither matched nor adopted', () => {
    const p = planRuleChanges(input({ adopt: true, desired: [want('10.0.0.0/24')], observed: [r('10.0.0.0/24'), r('10.0.0.0/24', 'sg-01', 'by hand')] }));
    expect(p.status).toBe('in-sync');
    expect(p.groups[0]).toMatchObject({ matchedUnowned: 0, adopt: [] });
  });

  it('a plan with removals only, or adoptions only, is a change', () => {
    expect(planRuleChanges(input({ desired: [want('10.0.0.0/24')], observed: [r('10.0.0.0/24'), r('10.0.1.0/24')] })).status).toBe('changes');
    expect(planRuleChanges(input({ adopt: true, desired: [want('10.0.0.0/24')], observed: [r('10.0.0.0/24', 'sg-01', 'by hand')] })).status).toBe('changes');
    expect(planRuleChanges(input({ desired: [want('10.0.0.0/24')], observed: [r('10.0.0.0/24', 'sg-01', 'by hand')] })).status).toBe('in-sync');
  });

  it('capacity counts the families the set uses; an empty set counts IPv4', () => {
    expect(planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], desired: [want('10.0.0.0/24')] })).capacity).toBe(120);
    expect(planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], desired: [want('2001:db8::/32')] })).capacity).toBe(120);
    expect(planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], desired: [want('10.0.0.0/24'), want('2001:db8::/32')] })).capacity).toBe(240);
    expect(planRuleChanges(input({ groupIds: ['sg-01'], desired: [want('pl-0a')] })).capacity).toBe(120);
    expect(planRuleChanges(input({ groupIds: ['sg-01'], desired: [], observed: [r('2001:db8::/32', 'sg-01', 'by hand')] })).capacity).toBe(60);
  });

  it('a source that loses both its rules is held only below a fraction of 1', () => {
    const observed = [...Array.from({ length: 20 }, (_, i) => r(`10.0.${i}.0/24`)), r('192.0.2.1/32', 'sg-01', 'origin-guard:edge:konnect'), r('192.0.2.2/32', 'sg-01', 'origin-guard:edge:konnect')];
    const desired = Array.from({ length: 20 }, (_, i) => want(`10.0.${i}.0/24`));
    expect(planRuleChanges(input({ observed, desired, maxRemovalFraction: 1 })).held).toBe(false);
    expect(planRuleChanges(input({ observed, desired, maxRemovalFraction: 0.99 })).guardReason).toBe('source konnect: all 2 of its rules');
  });
});

describe('planTarget in prefix-list mode: lists and references', () => {
  const sources = (cidrs: string[]) => [{ source: 'static', label: 'static', cidrs }];

  it('fills only lists of the families the target admits, each CIDR once, and references them with the target\'s description', () => {
    const target = prefixTarget(['sg-01'], { prefixListIds: ['pl-0b', 'pl-0a'], ipVersions: ['ipv4'], maxRulesPerGroup: 60 });
    const lists = [
      { id: 'pl-0a', family: 'ipv4' as const, maxEntries: 4 },
      { id: 'pl-0b', family: 'ipv6' as const, maxEntries: 4 },
    ];
    const p = planTarget(target, [...sources(['10.0.0.0/24', '2001:db8::/32']), { source: 'aws', label: 'aws', cidrs: ['10.0.0.0/24', '10.0.1.0/24'] }], [], { prefixLists: lists });
    expect(p.groups.map((g) => g.groupId)).toEqual(['pl-0b', 'pl-0a', 'sg-01']);
    expect(p.groups[1].add).toEqual([
      { cidr: '10.0.0.0/24', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, description: 'origin-guard:edge:static' },
      { cidr: '10.0.1.0/24', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, description: 'origin-guard:edge:aws' },
    ]);
    expect(p.groups[0].add).toEqual([]);
    expect(p.groups[2].add).toEqual([{ cidr: 'pl-0a', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:prefix-list', weight: 4 }]);
    expect(p.capacity).toBe(8);
  });

  it('a reference that lost its description (moto drops them) is still the target\'s: in sync, weighed as its list', () => {
    const target = prefixTarget(['sg-01'], { sources: [{ type: 'static', cidrs: ['10.0.0.0/24'] }] });
    const observed: ObservedRule[] = [
      { groupId: 'pl-0a', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr: '10.0.0.0/24', description: 'origin-guard:edge:static' },
      { groupId: 'sg-01', ruleId: 'sgr-ref', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: 'pl-0a' },
      { groupId: 'sg-01', ruleId: 'sgr-other', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: 'pl-0f' },
    ];
    const p = planTarget(target, sources(['10.0.0.0/24']), observed, { prefixLists: [LIST] });
    expect(p.status).toBe('in-sync');
    expect(p.groups[1]).toMatchObject({ groupId: 'sg-01', rulesBefore: 5, unowned: 1 });
  });

  it('names lists that were not found and plans with the others', () => {
    const target = prefixTarget(['sg-01'], { prefixListIds: ['pl-0a', 'pl-0b', 'pl-0c'], maxRulesPerGroup: 60 });
    const p = planTarget(target, sources(CIDRS), [], { prefixLists: [LIST, { id: 'pl-0d', family: 'ipv4', maxEntries: 4 }] });
    expect(p.notes).toEqual(['prefix lists pl-0b, pl-0c were not found; only the others are used']);
    expect(p.groups.map((g) => g.groupId)).toEqual(['pl-0a', 'sg-01']);
  });

  it('references that fit no group: every group unchanged, the list changes withheld too', () => {
    const target = prefixTarget(['sg-01', 'sg-02'], { maxRulesPerGroup: 3 });
    const p = planTarget(target, sources(CIDRS), [], { prefixLists: [LIST] });
    expect(p).toMatchObject({ status: 'insufficient-capacity', groupsNeeded: 0 });
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: [], remove: [], removeFirst: false, before: 0, after: 0 },
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 0, after: 0 },
      { group: 'sg-02', add: [], remove: [], removeFirst: false, before: 0, after: 0 },
    ]);
    expect(p.notes).toEqual([
      "the references to the target's prefix lists count as their MaxEntries against sg-01's quota: 4 = 4, with 0 used by other rules, of 3. Lower the lists' MaxEntries, or raise the \"Inbound rules per security group\" quota and maxRulesPerGroup; nothing was changed.",
    ]);
  });

  it('rules mode: adopts by the target\'s setting unless told otherwise, and adds the managed-list advice to the notes', () => {
    const t = IpRangeTargetSchema.parse({ name: 'edge', securityGroupIds: ['sg-01'], ports: [443], adopt: true, sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }] });
    const hand: ObservedRule[] = [{ groupId: 'sg-01', ruleId: 'sgr-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.0.0.0/24', description: 'by hand' }];
    const src = [{ source: 'aws', label: 'aws', cidrs: ['10.0.0.0/24'] }];
    const p = planTarget(t, src, hand);
    expect(p.groups[0].adopt.map((x) => x.ruleId)).toEqual(['sgr-1']);
    expect(planTarget(t, src, hand, { adopt: false }).groups[0].adopt).toEqual([]);
    expect(p.notes).toEqual([managedPrefixListAdvice(t)]);
    expect(planTarget({ ...t, sources: [{ type: 'static', cidrs: ['10.0.0.0/24'] }] }, src, hand).notes).toEqual([]);
  });
});

describe('after the mutation run: survivors killed', () => {
  const want = (cidr: string) => ({ cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:aws' });

  it('the fingerprint of a set ignores its order and does not run keys together', () => {
    expect(fingerprintRules(['tcp|443|443|10.0.1.0/24', 'tcp|443|443|10.0.0.0/24'])).toBe(fingerprintRules(['tcp|443|443|10.0.0.0/24', 'tcp|443|443|10.0.1.0/24']));
    expect(fingerprintRules(['ab', 'c'])).not.toBe(fingerprintRules(['a', 'bc']));
    expect(fingerprintRules([])).toMatch(/^[0-9a-f]{16}$/);
  });

  it('an IPv4 rule fits a group whose IPv6 family is full, and the other way round', () => {
    const full6 = Array.from({ length: 2 }, (_, i) => ({ groupId: 'sg-01', ruleId: `sgr-6${i}`, protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `2001:db8:${i}::/48`, description: 'by hand' }));
    const p = planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 2, maxRemovalFraction: 0.3, desired: [want('10.0.0.0/24')], observed: full6 });
    expect(p.status).toBe('changes');
    expect(p.groups[0].add.map((r) => r.cidr)).toEqual(['10.0.0.0/24']);
    const full4 = full6.map((r, i) => ({ ...r, cidr: `10.9.${i}.0/24` }));
    const q = planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 2, maxRemovalFraction: 0.3, desired: [want('2001:db8:ff::/48')], observed: full4 });
    expect(q.groups[0].add.map((r) => r.cidr)).toEqual(['2001:db8:ff::/48']);
  });

  it('an owned rule without a CIDR is not an owned range', () => {
    const p = planRuleChanges({
      target: 'edge',
      groupIds: ['sg-01'],
      maxRulesPerGroup: 60,
      maxRemovalFraction: 1,
      desired: [want('10.0.0.0/24')],
      observed: [{ groupId: 'sg-01', ruleId: 'sgr-g', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:aws' }],
    });
    expect(p).toMatchObject({ ownedCount: 0, staleCount: 0, removalFraction: 0 });
  });

  it('prefix lists: the capacity note is exact, and a plan that only removes a list entry is a change', () => {
    const t = prefixTarget(['sg-01'], { prefixListIds: ['pl-0a', 'pl-0c'], maxRulesPerGroup: 60 });
    const lists = [
      { id: 'pl-0a', family: 'ipv4' as const, maxEntries: 2 },
      { id: 'pl-0c', family: 'ipv6' as const, maxEntries: 2 },
    ];
    const p = planTarget(t, [{ source: 's', label: 'aws', cidrs: ['2001:db8::/32', '2001:db9::/32', '2001:dba::/32', '2001:dbb::/32'] }], [], { prefixLists: lists });
    expect(p.notes).toEqual([
      '4 rules do not fit: the 2 prefix lists hold 4 after their unowned entries (quota 2 each) (2 IPv6 missing). Add 1 more prefix list to the target; nothing was changed.',
    ]);
    const entries = ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24', '10.0.4.0/24'];
    const observed: ObservedRule[] = [
      ...entries.map((cidr) => ({ groupId: 'pl-0a', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr, description: 'origin-guard:edge:static' })),
      { groupId: 'sg-01', ruleId: 'sgr-ref', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: 'pl-0a', description: 'origin-guard:edge:prefix-list' },
    ];
    const target = prefixTarget(['sg-01'], { ipVersions: ['ipv4'], maxRulesPerGroup: 60 });
    const q = planTarget(target, [{ source: 'static', label: 'static', cidrs: entries.slice(0, 4) }], observed, { prefixLists: [{ id: 'pl-0a', family: 'ipv4', maxEntries: 10 }] });
    expect(q.status).toBe('changes');
    expect(summary(q).map((g) => [g.group, g.add, g.remove])).toEqual([
      ['pl-0a', [], ['10.0.4.0/24']],
      ['sg-01', [], []],
    ]);
  });
});
