/**
 * The planner's corners that the mutation run found untested: held rules evicted and placed again, the order
 * and queues of additions, the capacity of the families a set uses, the held union's free room, prefix-list mode's
 * lists and references, and make-before-break's coverage and copies. Pure, no emulator.
 */
import { describe, expect, it } from 'vitest';
import { IpRangeTargetSchema, type IpRangeTargetConfig } from '../../lambdas/config.ts';
import { planRuleChanges, planTarget, type ObservedRule, type PlanInput, type RulePlan } from '../../lambdas/core/range-planner.ts';

const OWN = 'origin-guard:edge:aws';
const rule = (groupId: string, cidr: string, description = OWN, fromPort = 443): ObservedRule => ({
  groupId,
  ruleId: `sgr-${groupId}-${cidr}-${fromPort}`,
  protocol: 'tcp',
  fromPort,
  toPort: fromPort,
  cidr,
  description,
});
const want = (cidr: string, fromPort = 443, toPort = fromPort) => ({ cidr, protocol: 'tcp', fromPort, toPort, description: OWN });
const input = (over: Partial<PlanInput>): PlanInput => ({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 60, maxRemovalFraction: 1, desired: [], observed: [], ...over });
const hand = (groupId: string, n: number, third = 9) => Array.from({ length: n }, (_, i) => rule(groupId, `10.${third}.${i}.0/24`, 'by hand', 22));
const adds = (p: RulePlan) => p.groups.map((g) => [g.groupId, g.add.map((r) => r.cidr)]);
const summary = (p: RulePlan) =>
  p.groups.map((g) => ({ group: g.groupId, add: g.add.map((r) => r.cidr), remove: g.remove.map((r) => r.cidr), removeFirst: g.removeFirst, before: g.rulesBefore, after: g.rulesAfter }));

describe('rules mode: corners', () => {
  it('a held rule evicted from a group now over quota is placed again elsewhere with its own description', () => {
    // sg-01's hand-made rules now fill its quota; the owned rule there is stale but held, so it moves to sg-02.
    const p = planRuleChanges(
      input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 3, maxRemovalFraction: 0.3, desired: [want('192.0.2.0/24')], observed: [...hand('sg-01', 3), rule('sg-01', '10.0.0.0/24', 'origin-guard:edge:konnect')] }),
    );
    expect(p.status).toBe('held');
    expect(p.groups[0].remove.map((r) => r.cidr)).toEqual(['10.0.0.0/24']);
    expect(p.groups[1].add).toEqual([
      { cidr: '10.0.0.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:konnect' },
      { cidr: '192.0.2.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, description: OWN },
    ]);
  });
});

describe('rules mode: order and queues of additions', () => {
  it('adds in CIDR, then from-port, then to-port order, whatever the feed order', () => {
    const sorted = [want('10.0.0.0/24', 8443), want('10.0.1.0/24', 80), want('10.0.1.0/24', 80, 81), want('10.0.1.0/24', 443), want('10.0.2.0/24', 22)];
    const key = (r: { cidr: string; fromPort: number; toPort: number }) => `${r.cidr}:${r.fromPort}-${r.toPort}`;
    for (const feed of [sorted, [...sorted].reverse(), [sorted[2], sorted[4], sorted[0], sorted[3], sorted[1]], [sorted[1], sorted[3], sorted[0], sorted[4], sorted[2]]]) {
      expect(planRuleChanges(input({ desired: feed })).groups[0].add.map(key)).toEqual(sorted.map(key));
    }
  });

  it('each family fills the groups on its own: IPv6 rules do not wait behind IPv4 ones', () => {
    // Quota 1 per family: each group takes one IPv4 and one IPv6 rule, in order.
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 1, desired: ['2001:db8:2::/48', '10.0.1.0/24', '2001:db8:1::/48', '10.0.0.0/24'].map((c) => want(c)) }));
    expect(p.status).toBe('changes');
    expect(adds(p)).toEqual([
      ['sg-01', ['10.0.0.0/24', '2001:db8:1::/48']],
      ['sg-02', ['10.0.1.0/24', '2001:db8:2::/48']],
    ]);
    expect(p.groups.map((g) => g.removeFirst)).toEqual([false, false]);
  });

  it('references (both families) are placed before the CIDR rules of either family', () => {
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 2, desired: [want('10.0.0.0/24'), want('pl-0a'), want('10.0.1.0/24')] }));
    expect(adds(p)).toEqual([
      ['sg-01', ['pl-0a', '10.0.0.0/24']],
      ['sg-02', ['10.0.1.0/24']],
    ]);
    const v6 = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 2, desired: [want('2001:db8::/48'), want('pl-0a'), want('2001:db8:1::/48')] }));
    expect(adds(v6)).toEqual([
      // CIDRs compare as strings: '2001:db8:1::' sorts before '2001:db8::'.
      ['sg-01', ['pl-0a', '2001:db8:1::/48']],
      ['sg-02', ['2001:db8::/48']],
    ]);
  });

  it('a group without removals never removes first, even when a later, lighter rule fits it on the second pass', () => {
    // References of different weights: sg-01 (room 3) cannot take the 4-weight one, sg-02 takes it; the 2-weight one
    // then goes to sg-01, which removes nothing, so nothing waits for removals.
    const p = planRuleChanges(
      input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 4, observed: hand('sg-01', 1), desired: [{ ...want('pl-0a'), weight: 4 }, { ...want('pl-0b'), weight: 2 }] }),
    );
    expect(adds(p)).toEqual([
      ['sg-01', ['pl-0b']],
      ['sg-02', ['pl-0a']],
    ]);
    expect(p.groups.map((g) => g.removeFirst)).toEqual([false, false]);
  });

  it('a group that can take a rule only once its stale rules are gone removes first', () => {
    const p = planRuleChanges(input({ maxRulesPerGroup: 2, observed: [rule('sg-01', '10.0.0.0/24'), rule('sg-01', '10.0.1.0/24')], desired: [want('10.0.2.0/24')] }));
    expect(summary(p)).toEqual([{ group: 'sg-01', add: ['10.0.2.0/24'], remove: ['10.0.0.0/24', '10.0.1.0/24'], removeFirst: true, before: 2, after: 1 }]);
  });
});

describe('rules mode: capacity of the families the set uses', () => {
  it('a stale rule of another family does not count that family', () => {
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], desired: [want('10.0.0.0/24')], observed: [rule('sg-01', '2001:db8::/48')] }));
    expect(p.groups[0].remove.map((r) => r.cidr)).toEqual(['2001:db8::/48']);
    expect(p.capacity).toBe(120);
  });

  it('a held stale rule of another family does count it (it stays)', () => {
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], maxRemovalFraction: 0.3, desired: [want('10.0.0.0/24')], observed: [rule('sg-01', '2001:db8::/48')] }));
    expect(p.held).toBe(true);
    expect(p.capacity).toBe(240);
  });
});

describe('held shrink whose union does not fit: only fresh rules go into the free room', () => {
  const owned = ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'];

  it('a desired range already admitted by a hand-made rule is not added again', () => {
    const observed = [...owned.map((c) => rule('sg-01', c)), rule('sg-01', '192.0.2.0/24', 'by hand')];
    const desired = [owned[0], '192.0.2.0/24', '192.0.3.0/24', '192.0.4.0/24', '192.0.5.0/24'].map((c) => want(c));
    const p = planRuleChanges(input({ maxRulesPerGroup: 6, maxRemovalFraction: 0.3, desired, observed }));
    expect(p.status).toBe('held');
    expect(p.notes[1]).toBe(
      'the old and the new set together (8 rules) do not fit the 1 security groups (5 after their unowned entries); the new set alone fits. ' +
        '1 of the 3 new rules fit the free room and are added; the other 2 are added once the shrink is applied; nothing is removed.',
    );
    expect(summary(p)).toEqual([{ group: 'sg-01', add: ['192.0.3.0/24'], remove: [], removeFirst: false, before: 5, after: 6 }]);
  });

  it('an owned desired rule evicted from a group over quota stays where it is: it is neither added nor removed', () => {
    // sg-01 is over quota (hand-made rules came later); the shrink is held and the union does not fit sg-02.
    const observed = [...hand('sg-01', 2), rule('sg-01', owned[0]), rule('sg-01', owned[1]), ...[owned[2], owned[3]].map((c) => rule('sg-02', c))];
    const desired = [owned[0], owned[1], '192.0.2.0/24', '192.0.3.0/24'].map((c) => want(c));
    const p = planRuleChanges(input({ groupIds: ['sg-01', 'sg-02'], maxRulesPerGroup: 3, maxRemovalFraction: 0.3, desired, observed }));
    expect(p.status).toBe('held');
    expect(summary(p)).toEqual([
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 4, after: 4 },
      { group: 'sg-02', add: ['192.0.2.0/24'], remove: [], removeFirst: false, before: 2, after: 3 },
    ]);
  });

  it('fresh rules go into the free room in CIDR order, whatever the feed order', () => {
    const observed = owned.map((c) => rule('sg-01', c));
    const desired = [owned[0], '192.0.4.0/24', '192.0.2.0/24', '192.0.3.0/24'].map((c) => want(c));
    const p = planRuleChanges(input({ maxRulesPerGroup: 6, maxRemovalFraction: 0.3, desired, observed }));
    expect(p.status).toBe('held');
    expect(adds(p)).toEqual([['sg-01', ['192.0.2.0/24', '192.0.3.0/24']]]);
  });
});

const CIDRS = Array.from({ length: 4 }, (_, i) => `198.18.${i}.0/24`);
const LIST = { id: 'pl-0a', family: 'ipv4' as const, maxEntries: 4 };
const STATIC = 'origin-guard:edge:static';

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
const entry = (listId: string, cidr: string): ObservedRule => ({ groupId: listId, protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr, description: STATIC });
const owned = (groupId: string, cidr: string, fromPort = 443) => rule(groupId, cidr, STATIC, fromPort);
const ref = (groupId: string, listId = 'pl-0a', description: string | undefined = 'origin-guard:edge:prefix-list'): ObservedRule => ({
  groupId,
  ruleId: `sgr-${groupId}-${listId}`,
  protocol: 'tcp',
  fromPort: 443,
  toPort: 443,
  cidr: listId,
  ...(description === undefined ? {} : { description }),
});
const planOf = (target: IpRangeTargetConfig, cidrs: string[], observed: ObservedRule[], lists: Array<{ id: string; family: 'ipv4' | 'ipv6'; maxEntries: number }> = [LIST]) =>
  planTarget(target, [{ source: 'static', label: 'static', cidrs }], observed, { prefixLists: lists });

describe('prefix-list mode: lists and references', () => {
  it('names only the lists that were not found when several were', () => {
    const target = prefixTarget(['sg-01'], { prefixListIds: ['pl-0a', 'pl-0b', 'pl-0c'], maxRulesPerGroup: 60 });
    const p = planOf(target, CIDRS, [], [LIST, { id: 'pl-0c', family: 'ipv6', maxEntries: 4 }]);
    expect(p.notes).toEqual(['prefix lists pl-0b were not found; only the others are used']);
    expect(p.groups.map((g) => g.groupId)).toEqual(['pl-0a', 'pl-0c', 'sg-01']);
  });

  it('capacity: each list counts in its own family only', () => {
    const target = prefixTarget(['sg-01'], { prefixListIds: ['pl-0a', 'pl-0b'], maxRulesPerGroup: 60 });
    const p = planOf(target, ['10.0.0.0/24', '2001:db8::/48'], [], [LIST, { id: 'pl-0b', family: 'ipv6', maxEntries: 4 }]);
    expect(p.status).toBe('changes');
    expect(p.capacity).toBe(8);
  });

  it('adopts a hand-made reference to its list by the target\'s setting: an adoption alone is a change', () => {
    const observed = [...CIDRS.map((c) => entry('pl-0a', c)), ref('sg-01', 'pl-0a', 'by hand')];
    const target = prefixTarget(['sg-01'], { adopt: true });
    const p = planOf(target, CIDRS, observed);
    expect(p.status).toBe('changes');
    expect(p.groups[1]).toMatchObject({ groupId: 'sg-01', add: [], remove: [], matchedUnowned: 1 });
    expect(p.groups[1].adopt).toEqual([{ cidr: 'pl-0a', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'origin-guard:edge:prefix-list', ruleId: 'sgr-sg-01-pl-0a' }]);
    // Without adopt, the same account is in sync.
    expect(planOf(prefixTarget(['sg-01']), CIDRS, observed).status).toBe('in-sync');
    expect(planTarget(target, [{ source: 'static', label: 'static', cidrs: CIDRS }], observed, { prefixLists: [LIST], adopt: false }).status).toBe('in-sync');
  });

  it('a held shrink of a list whose union does not fit: new entries go only into the free room of lists of their family', () => {
    const old = ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'];
    const target = prefixTarget(['sg-01'], { prefixListIds: ['pl-0b', 'pl-0a'], maxRulesPerGroup: 60 });
    const lists = [
      { id: 'pl-0b', family: 'ipv6' as const, maxEntries: 4 },
      { id: 'pl-0a', family: 'ipv4' as const, maxEntries: 5 },
    ];
    const observed = [...old.map((c) => entry('pl-0a', c)), ref('sg-01', 'pl-0a'), ref('sg-01', 'pl-0b')];
    const p = planOf(target, [old[0], '192.0.2.0/24', '192.0.3.0/24', '192.0.4.0/24'], observed, lists);
    expect(p.status).toBe('held');
    expect(p.notes[1]).toBe(
      'the old and the new set together (7 rules) do not fit the 2 prefix lists (9 after their unowned entries); the new set alone fits. ' +
        '1 of the 3 new rules fit the free room and are added; the other 2 are added once the shrink is applied; nothing is removed.',
    );
    expect(summary(p)).toEqual([
      { group: 'pl-0b', add: [], remove: [], removeFirst: false, before: 0, after: 0 },
      { group: 'pl-0a', add: ['192.0.2.0/24'], remove: [], removeFirst: false, before: 4, after: 5 },
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 9, after: 9 },
    ]);
  });
});

describe('prefix-list mode: make-before-break', () => {
  const office = (groupId: string, n: number, third: number) => Array.from({ length: n }, (_, k) => rule(groupId, `10.${third}.${k}.0/24`, 'office', 22));

  it('a group with room switches in one run: the reference goes in first and admits what the list will hold', () => {
    const observed = CIDRS.map((c) => owned('sg-01', c));
    const p = planOf(prefixTarget(['sg-01'], { maxRulesPerGroup: 60 }), CIDRS, observed);
    expect(p.status).toBe('changes');
    expect(p.deferred).toBeUndefined();
    expect(p.notes).toEqual([]);
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: CIDRS, remove: [], removeFirst: false, before: 0, after: 4 },
      { group: 'sg-01', add: ['pl-0a'], remove: CIDRS, removeFirst: false, before: 4, after: 4 },
    ]);
  });

  it('two full groups holding the same ranges: neither removes its copy, each waits, nothing is copied', () => {
    const observed = ['sg-01', 'sg-02'].flatMap((g, i) => [...office(g, 4, i), ...CIDRS.map((c) => owned(g, c))]);
    const p = planOf(prefixTarget(['sg-01', 'sg-02']), CIDRS, observed);
    const wait = (g: string) =>
      `${g} cannot reference the prefix lists (4 rules against its quota) beside its current rules (0 free) without first removing 4 rules that still admit desired ranges: ` +
      'add a spare security group with 4 free rules to securityGroupIds, or raise the quota and maxRulesPerGroup by 4; nothing that admits traffic was removed.';
    expect(p.notes).toEqual([wait('sg-01'), wait('sg-02'), '10 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.']);
    expect(p.deferred).toBe(10);
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: CIDRS, remove: [], removeFirst: false, before: 0, after: 4 },
      { group: 'sg-01', add: [], remove: [], removeFirst: false, before: 8, after: 8 },
      { group: 'sg-02', add: [], remove: [], removeFirst: false, before: 8, after: 8 },
    ]);
  });

  it('a blocked group\'s rules are copied over several hosts, each up to its room, and the hosts\' use counts the copies', () => {
    const stale = '203.0.113.0/24';
    const observed = [
      ...office('sg-01', 4, 1),
      ...[CIDRS[0], CIDRS[1]].map((c) => owned('sg-01', c)),
      ...office('sg-02', 4, 2),
      ...[CIDRS[2], CIDRS[3], stale].map((c) => owned('sg-02', c)),
      ...office('sg-03', 4, 3),
      ...[CIDRS[0], CIDRS[1], CIDRS[2]].map((c) => owned('sg-03', c)),
      ...office('sg-04', 4, 4),
      ...CIDRS.map((c) => owned('sg-04', c)),
    ];
    const p = planOf(prefixTarget(['sg-01', 'sg-02', 'sg-03', 'sg-04']), CIDRS, observed);
    // sg-01 (room 2) needs 4 for the reference: its 2 ranges go to sg-02 and sg-03 (room 1 each; sg-04 has none),
    // which wait for their own switch (their references do not fit either) but still drop a stale rule.
    expect(p.notes).toEqual([
      'sg-01 has no room for its prefix-list references beside its 2 CIDR rules: they are copied to sg-02, sg-03 first, then removed from sg-01, which then references the lists; the copies go once the references admit their ranges.',
      '12 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    ]);
    expect(p.deferred).toBe(12);
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: CIDRS, remove: [], removeFirst: false, before: 0, after: 4 },
      { group: 'sg-01', add: ['pl-0a'], remove: [CIDRS[0], CIDRS[1]], removeFirst: true, before: 6, after: 8 },
      { group: 'sg-02', add: [CIDRS[0]], remove: [stale], removeFirst: false, before: 7, after: 7 },
      { group: 'sg-03', add: [CIDRS[1]], remove: [], removeFirst: false, before: 7, after: 8 },
      { group: 'sg-04', add: [], remove: [], removeFirst: false, before: 8, after: 8 },
    ]);
    expect(p.groups[2].add).toEqual([{ cidr: CIDRS[0], protocol: 'tcp', fromPort: 443, toPort: 443, description: STATIC }]);
    expect(p.groups[3].families).toEqual({ ipv4: { before: 7, after: 8, unowned: 4, quota: 8 }, ipv6: { before: 0, after: 0, unowned: 0, quota: 8 } });
    expect(p.groups[1].families.ipv6).toEqual({ before: 0, after: 4, unowned: 0, quota: 8 });
  });

  it('the same with IPv6 ranges: hosts have room in the IPv6 family, and the copies count there', () => {
    const v6 = ['2001:db8:1::/48', '2001:db8:2::/48', '2001:db8:3::/48', '2001:db8:4::/48'];
    const office6 = (groupId: string, third: number) => Array.from({ length: 4 }, (_, k) => rule(groupId, `2001:db9:${third}:${k + 1}::/64`, 'office', 22));
    const observed = [
      ...office6('sg-01', 1),
      ...[v6[0], v6[1]].map((c) => owned('sg-01', c)),
      ...office6('sg-02', 2),
      ...[v6[2], v6[3], '2001:db8:ff::/48'].map((c) => owned('sg-02', c)),
      ...office6('sg-03', 3),
      ...[v6[0], v6[1], v6[2]].map((c) => owned('sg-03', c)),
    ];
    const target = prefixTarget(['sg-01', 'sg-02', 'sg-03'], { prefixListIds: ['pl-0c'], ipVersions: ['ipv6'], sources: [{ type: 'static', cidrs: v6 }] });
    const p = planOf(target, v6, observed, [{ id: 'pl-0c', family: 'ipv6', maxEntries: 4 }]);
    expect(p.notes[0]).toBe(
      'sg-01 has no room for its prefix-list references beside its 2 CIDR rules: they are copied to sg-02, sg-03 first, then removed from sg-01, which then references the lists; the copies go once the references admit their ranges.',
    );
    expect(summary(p).slice(1)).toEqual([
      { group: 'sg-01', add: ['pl-0c'], remove: [v6[0], v6[1]], removeFirst: true, before: 6, after: 8 },
      { group: 'sg-02', add: [v6[0]], remove: ['2001:db8:ff::/48'], removeFirst: false, before: 7, after: 7 },
      { group: 'sg-03', add: [v6[1]], remove: [], removeFirst: false, before: 7, after: 8 },
    ]);
    expect(p.groups[3].families).toEqual({ ipv4: { before: 0, after: 0, unowned: 0, quota: 8 }, ipv6: { before: 7, after: 8, unowned: 4, quota: 8 } });
  });

  it('a feed jump: a range still admitted by a hand-made rule in another group is removed now, the others wait, a stale rule goes', () => {
    const old = Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`);
    const more = Array.from({ length: 5 }, (_, i) => `10.1.${i}.0/24`);
    const observed: ObservedRule[] = [
      ...old.map((c) => entry('pl-0a', c)),
      ref('sg-01'),
      ...more.map((c) => owned('sg-01', c)),
      owned('sg-01', old[0], 8443),
      ref('sg-02'),
      rule('sg-02', more[1], 'by hand'),
      rule('sg-02', more[3], 'by hand'),
      { groupId: 'sg-02', ruleId: 'sgr-sg', protocol: 'tcp', fromPort: 443, toPort: 443, description: 'from the load balancer' },
    ];
    const target = prefixTarget(['sg-01', 'sg-02'], { maxRulesPerGroup: 100 });
    const p = planOf(target, [...old, ...more, ...Array.from({ length: 20 }, (_, i) => `10.2.${i}.0/24`)], observed, [{ id: 'pl-0a', family: 'ipv4', maxEntries: 40 }]);
    expect(p.status).toBe('held');
    expect(p.notes).toEqual([
      'the set grows from 10 to 35 rules, more than maxGrowthFactor 3: nothing is added or removed. Applied with --force, or once the same set is confirmed by later runs.',
      '3 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    ]);
    expect(p.deferred).toBe(3);
    expect(summary(p)).toEqual([
      { group: 'pl-0a', add: [], remove: [], removeFirst: false, before: 10, after: 10 },
      // more[1] and more[3] stay admitted by sg-02's hand-made rules; the rule on port 8443 admits nothing desired.
      { group: 'sg-01', add: [], remove: [more[1], more[3], old[0]], removeFirst: false, before: 46, after: 43 },
      { group: 'sg-02', add: [], remove: [], removeFirst: false, before: 43, after: 43 },
    ]);
  });
});
