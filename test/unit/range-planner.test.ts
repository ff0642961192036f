import { describe, expect, it } from 'vitest';
import { IpRangeTargetSchema, type IpRangeTargetConfig } from '../../lambdas/config.ts';
import type { SourceRanges } from '../../lambdas/core/ip-sources.ts';
import { loadCloudFrontHistory } from '../support/cloudfront-history.ts';
import {
  desiredRules,
  managedPrefixListAdvice,
  planRuleChanges,
  planTarget,
  ruleDescription,
  type DesiredRule,
  type ObservedRule,
  type RulePlan,
} from '../../lambdas/core/range-planner.ts';

const history = loadCloudFrontHistory();

function target(overrides: Partial<Record<string, unknown>> = {}): IpRangeTargetConfig {
  return IpRangeTargetSchema.parse({
    name: 'edge',
    securityGroupIds: ['sg-0a', 'sg-0b', 'sg-0c', 'sg-0d', 'sg-0e'],
    ports: [443],
    sources: [{ type: 'aws', services: ['CLOUDFRONT'] }],
    ...overrides,
  });
}

function awsSource(cidrs: string[], syncToken?: string): SourceRanges {
  return { source: 'aws(test)', label: 'aws', cidrs, syncToken };
}

function addFamilies(use: { ipv4: number; ipv6: number }, r: ObservedRule) {
  const w = r.weight ?? 1;
  if (r.cidr === undefined || r.cidr.startsWith('pl-')) {
    use.ipv4 += w;
    use.ipv6 += w;
  } else use[r.cidr.includes(':') ? 'ipv6' : 'ipv4'] += w;
}

/** An in-memory account: applies a plan the way the EC2 adapter does, and checks the quota at every step. */
class FakeGroups {
  rules: ObservedRule[] = [];
  private nextId = 1;
  constructor(private readonly quota: number) {}

  add(rule: Omit<ObservedRule, 'ruleId'>) {
    this.rules.push({ ...rule, ruleId: `sgr-${this.nextId++}` });
  }
  /** As AWS counts: per family, the larger of the two (a reference counts in both, as its weight). */
  count(groupId: string) {
    const use = { ipv4: 0, ipv6: 0 };
    for (const r of this.rules) if (r.groupId === groupId) addFamilies(use, r);
    return Math.max(use.ipv4, use.ipv6);
  }
  apply(plan: RulePlan) {
    const authorize = (g: RulePlan['groups'][number]) => {
      for (const r of g.add) this.add({ groupId: g.groupId, protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, cidr: r.cidr, description: r.description });
      expect(this.count(g.groupId), `quota of ${g.groupId} while adding`).toBeLessThanOrEqual(this.quota);
    };
    for (const g of plan.groups) if (!g.removeFirst && g.add.length) authorize(g);
    for (const g of plan.groups) {
      const ids = new Set(g.remove.map((r) => r.ruleId));
      this.rules = this.rules.filter((r) => !(r.groupId === g.groupId && ids.has(r.ruleId)));
    }
    for (const g of plan.groups) if (g.removeFirst && g.add.length) authorize(g);
  }
  owned(prefix: string) {
    return this.rules.filter((r) => r.description?.startsWith(prefix));
  }
}

function ownedKeys(groups: FakeGroups, prefix: string): string[] {
  return groups
    .owned(prefix)
    .map((r) => `${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`)
    .sort();
}

function desiredKeys(rules: DesiredRule[]): string[] {
  return rules.map((r) => `${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`).sort();
}

const totals = (plan: RulePlan) => ({
  add: plan.groups.reduce((n, g) => n + g.add.length, 0),
  remove: plan.groups.reduce((n, g) => n + g.remove.length, 0),
});

describe('planner on the 57 real CloudFront versions', () => {
  it('turns each version into the next across several groups, with minimal churn and never above the quota', () => {
    // Arrange: the whole CLOUDFRONT service (about 220 rules) over five groups that also hold unowned rules.
    const t = target();
    const groups = new FakeGroups(60);
    t.securityGroupIds.forEach((groupId, i) => {
      for (let k = 0; k <= i; k++) groups.add({ groupId, protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `10.${i}.${k}.0/24`, description: 'ssh from the office' });
    });
    const unownedBefore = structuredClone(groups.rules.filter((r) => !r.description?.startsWith('origin-guard:')));
    expect(history).toHaveLength(57);

    let previous = new Set<string>();
    let placement = new Map<string, string>();
    for (const version of history) {
      const cidrs = [...version.CLOUDFRONT.ipv4, ...version.CLOUDFRONT.ipv6];
      const desired = desiredRules(t, [awsSource(cidrs, version.syncToken)]);
      const next = new Set(desired.map((r) => r.cidr));

      // Act
      const plan = planTarget(t, [awsSource(cidrs, version.syncToken)], groups.rules);
      groups.apply(plan);

      // Assert: exactly the desired set, once each; unowned rules untouched; quota respected.
      expect(plan.status, version.syncToken).not.toBe('insufficient-capacity');
      expect(plan.held).toBe(false);
      expect(ownedKeys(groups, 'origin-guard:edge:')).toEqual(desiredKeys(desired));
      expect(plan.groups.length).toBeGreaterThan(0);
      for (const g of plan.groups) {
        expect(g.rulesAfter).toBeLessThanOrEqual(60);
        expect(groups.count(g.groupId)).toBe(g.rulesAfter);
      }
      expect(groups.rules.filter((r) => !r.description?.startsWith('origin-guard:'))).toEqual(unownedBefore);
      // Minimal churn: only what changed between versions is written, and kept ranges stay where they were.
      const { add, remove } = totals(plan);
      expect(add).toBe([...next].filter((c) => !previous.has(c)).length);
      expect(remove).toBe([...previous].filter((c) => !next.has(c)).length);
      const nowPlacement = new Map(groups.owned('origin-guard:edge:').map((r) => [r.cidr!, r.groupId]));
      for (const [cidr, groupId] of placement) if (next.has(cidr)) expect(nowPlacement.get(cidr)).toBe(groupId);
      // A second plan on the result has nothing to do.
      expect(planTarget(t, [awsSource(cidrs)], groups.rules).status).toBe('in-sync');

      previous = next;
      placement = nowPlacement;
    }
  });

  it('keeps CLOUDFRONT_ORIGIN_FACING on two ports in two groups, holding the one real shrink above 30 %', () => {
    const t = target({ securityGroupIds: ['sg-01', 'sg-02'], ports: [80, 443], sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }] });
    const groups = new FakeGroups(60);
    const heldAt: string[] = [];
    for (const version of history.filter((v) => v.CLOUDFRONT_ORIGIN_FACING.ipv4.length > 0)) {
      const source = awsSource([...version.CLOUDFRONT_ORIGIN_FACING.ipv4, ...version.CLOUDFRONT_ORIGIN_FACING.ipv6]);
      const before = ownedKeys(groups, 'origin-guard:edge:');
      const plan = planTarget(t, [source], groups.rules);
      groups.apply(plan);
      const wanted = desiredKeys(desiredRules(t, [source]));
      if (plan.held) {
        // Removals withheld, additions applied: the groups hold the union of the old and the new set.
        heldAt.push(version.syncToken);
        expect(ownedKeys(groups, 'origin-guard:edge:')).toEqual([...new Set([...before, ...wanted])].sort());
      } else {
        expect(ownedKeys(groups, 'origin-guard:edge:')).toEqual(wanted);
      }
      expect(Math.max(groups.count('sg-01'), groups.count('sg-02'))).toBeLessThanOrEqual(60);
    }
    // 2021-10-12: 13 of 42 prefixes replaced (31 %); the next version (13 of 57 stale, 23 %) goes through.
    expect(heldAt).toEqual(['1634058796']);
  });
});

describe('planRuleChanges', () => {
  const rule = (cidr: string, port = 443, source = 'aws'): DesiredRule => ({ cidr, protocol: 'tcp', fromPort: port, toPort: port, description: ruleDescription('edge', source) });
  const observed = (groupId: string, cidr: string, description = ruleDescription('edge', 'aws'), ruleId = `sgr-${groupId}-${cidr}`): ObservedRule => ({
    groupId,
    ruleId,
    protocol: 'tcp',
    fromPort: 443,
    toPort: 443,
    cidr,
    description,
  });
  const cidrs = (n: number, base = 1) => Array.from({ length: n }, (_, i) => `10.${base}.${i}.0/24`);
  const input = (over: Partial<Parameters<typeof planRuleChanges>[0]> = {}) => ({
    target: 'edge',
    groupIds: ['sg-1', 'sg-2'],
    maxRulesPerGroup: 5,
    maxRemovalFraction: 0.5,
    desired: [],
    observed: [],
    ...over,
  });

  it('never touches rules it does not own, and counts them against the quota', () => {
    const plan = planRuleChanges(
      input({
        desired: cidrs(6).map((c) => rule(c)),
        observed: [
          observed('sg-1', '192.0.2.0/24', 'manual'),
          { groupId: 'sg-1', ruleId: 'sgr-x', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '198.51.100.0/24' },
          observed('sg-1', '203.0.113.0/24', 'origin-guard:edge-other:aws'),
        ],
      }),
    );
    expect(plan.status).toBe('changes');
    expect(plan.groups.map((g) => [g.add.length, g.remove.length, g.rulesAfter])).toEqual([
      [2, 0, 5],
      [4, 0, 4],
    ]);
  });

  it('says how many more groups are needed and changes nothing when the set does not fit', () => {
    const plan = planRuleChanges(input({ desired: cidrs(23).map((c) => rule(c)), observed: [observed('sg-1', '10.1.0.0/24'), observed('sg-2', '192.0.2.0/24', 'manual')] }));
    expect(plan.status).toBe('insufficient-capacity');
    // capacity 5 + 4 = 9; 23 rules → 14 more → 3 groups of 5.
    expect(plan.groupsNeeded).toBe(3);
    expect(plan.groups.every((g) => g.add.length === 0 && g.remove.length === 0)).toBe(true);
    expect(plan.groups.map((g) => g.rulesAfter)).toEqual([1, 1]);
  });

  it('holds removals above maxRemovalFraction but still adds', () => {
    const observedRules = cidrs(4).map((c) => observed('sg-1', c));
    const desired = [rule('10.1.0.0/24'), rule('10.9.0.0/24')];
    const plan = planRuleChanges(input({ desired, observed: observedRules }));
    expect(plan.held).toBe(true);
    expect(plan.status).toBe('held');
    expect(plan.staleCount).toBe(3);
    expect(totals(plan)).toEqual({ add: 1, remove: 0 });
    expect(plan.notes.join(' ')).toMatch(/removals held/);
  });

  it('applies a held shrink with force, or when the same set comes back', () => {
    const observedRules = cidrs(4).map((c) => observed('sg-1', c));
    const desired = [rule('10.1.0.0/24')];
    const held = planRuleChanges(input({ desired, observed: observedRules }));
    const forced = planRuleChanges(input({ desired, observed: observedRules, force: true }));
    const confirmed = planRuleChanges(input({ desired, observed: observedRules, heldFingerprint: held.desiredFingerprint }));
    const other = planRuleChanges(input({ desired: [rule('10.1.1.0/24')], observed: observedRules, heldFingerprint: held.desiredFingerprint }));
    expect(totals(forced)).toEqual({ add: 0, remove: 3 });
    expect(forced.held).toBe(false);
    expect(totals(confirmed)).toEqual({ add: 0, remove: 3 });
    expect(other.held).toBe(true);
  });

  it('holds a shrink whose union with the old set does not fit, adding what fits the free room', () => {
    // Arrange: one group, quota 10, full of 10 owned rules; the new version keeps 6 and adds 4 (40 % stale).
    const observedRules = cidrs(10).map((c) => observed('sg-1', c));
    const desired = [...cidrs(6).map((c) => rule(c)), ...cidrs(4, 7).map((c) => rule(c))];

    // Act
    const plan = planRuleChanges(input({ groupIds: ['sg-1'], maxRulesPerGroup: 10, maxRemovalFraction: 0.3, desired, observed: observedRules }));

    // Assert: held (no quota failure: the new set alone fits), nothing removed, no room to add.
    expect(plan.status).toBe('held');
    expect(plan.held).toBe(true);
    expect(plan.groupsNeeded).toBe(0);
    expect(totals(plan)).toEqual({ add: 0, remove: 0 });
    expect(plan.groups[0].rulesAfter).toBe(10);
    expect(plan.notes.join(' ')).toMatch(/0 of the 4 new rules fit.*the other 4 are added once the shrink is applied/);
    expect(plan.notes.join(' ')).not.toMatch(/more security group/);
  });

  it('adds the new rules that fit the free room when a held union does not fit', () => {
    // sg-1: 10 owned (full); sg-2: 7 unowned, 3 free. New version: 6 kept + 5 new → union 15 > 13.
    const observedRules = [...cidrs(10).map((c) => observed('sg-1', c)), ...cidrs(7, 9).map((c) => observed('sg-2', c, 'manual'))];
    const desired = [...cidrs(6).map((c) => rule(c)), ...cidrs(5, 7).map((c) => rule(c))];

    const plan = planRuleChanges(input({ maxRulesPerGroup: 10, maxRemovalFraction: 0.3, desired, observed: observedRules }));

    expect(plan.status).toBe('held');
    expect(plan.groups.map((g) => [g.add.length, g.remove.length, g.rulesAfter, g.removeFirst])).toEqual([
      [0, 0, 10, false],
      [3, 0, 10, false],
    ]);
    expect(plan.notes.join(' ')).toMatch(/3 of the 5 new rules fit/);
    // Once confirmed, the shrunken set fits: removals and the remaining additions go in.
    const confirmed = planRuleChanges(input({ maxRulesPerGroup: 10, maxRemovalFraction: 0.3, desired, observed: observedRules, heldFingerprint: plan.desiredFingerprint }));
    expect(confirmed.status).toBe('changes');
    expect(totals(confirmed)).toEqual({ add: 5, remove: 4 });
  });

  it('still reports missing groups when a held shrink does not fit even once applied', () => {
    const observedRules = cidrs(10).map((c) => observed('sg-1', c));
    const desired = [...cidrs(6).map((c) => rule(c)), ...cidrs(8, 7).map((c) => rule(c))];

    const plan = planRuleChanges(input({ groupIds: ['sg-1'], maxRulesPerGroup: 10, maxRemovalFraction: 0.3, desired, observed: observedRules }));

    // 14 desired, capacity 10: one more group, counted on the new set (not the 18-rule union).
    expect(plan.status).toBe('insufficient-capacity');
    expect(plan.groupsNeeded).toBe(1);
    expect(totals(plan)).toEqual({ add: 0, remove: 0 });
    expect(plan.notes.join(' ')).toMatch(/14 rules do not fit/);
  });

  it('holds when one source would lose every rule, though the target loses little (a feed gone empty or truncated)', () => {
    // Arrange: 20 AWS rules and 2 Konnect egress IPs; both Konnect IPs go (2 of 22 for the target).
    const observedRules = [...cidrs(20).map((c) => observed('sg-1', c)), observed('sg-2', '203.0.113.1/32', ruleDescription('edge', 'konnect')), observed('sg-2', '203.0.113.2/32', ruleDescription('edge', 'konnect'))];
    const desired = cidrs(20).map((c) => rule(c));

    // Act
    const plan = planRuleChanges(input({ maxRulesPerGroup: 30, maxRemovalFraction: 0.3, desired, observed: observedRules }));

    // Assert
    expect(plan.removalFraction).toBeLessThan(0.3);
    expect(plan.held).toBe(true);
    expect(plan.status).toBe('held');
    expect(totals(plan)).toEqual({ add: 0, remove: 0 });
    expect(plan.guardReason).toMatch(/source konnect: all 2 of its rules/);
    expect(plan.notes.join(' ')).toMatch(/source konnect.*removals held/);
  });

  it('lets a small source shrink (a gateway dropping one of its egress IPs is an ordinary change)', () => {
    const observedRules = [...cidrs(20).map((c) => observed('sg-1', c)), observed('sg-2', '203.0.113.1/32', ruleDescription('edge', 'konnect')), observed('sg-2', '203.0.113.2/32', ruleDescription('edge', 'konnect'))];
    const desired = [...cidrs(20).map((c) => rule(c)), rule('203.0.113.1/32', 443, 'konnect')];

    const plan = planRuleChanges(input({ maxRulesPerGroup: 30, maxRemovalFraction: 0.3, desired, observed: observedRules }));

    expect(plan.held).toBe(false);
    expect(totals(plan)).toEqual({ add: 0, remove: 1 });
  });

  it('counts a rule referencing a prefix list as the list\'s MaxEntries against the quota', () => {
    // sg-1 references AWS's CloudFront list (55 entries): 5 rules of room left under 60, not 59.
    const reference: ObservedRule = { groupId: 'sg-1', ruleId: 'sgr-pl', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: 'pl-3b927c52', description: 'cloudfront', weight: 55 };

    const plan = planRuleChanges(input({ maxRulesPerGroup: 60, desired: cidrs(10).map((c) => rule(c)), observed: [reference] }));

    expect(plan.groups.map((g) => [g.add.length, g.unowned, g.rulesAfter])).toEqual([
      [5, 55, 60],
      [5, 0, 5],
    ]);
    expect(plan.capacity).toBe(65);
  });

  it('removes a second copy of a rule and keeps the first', () => {
    const plan = planRuleChanges(input({ desired: [rule('10.1.0.0/24')], observed: [observed('sg-1', '10.1.0.0/24'), observed('sg-2', '10.1.0.0/24')] }));
    expect(plan.groups[0].remove).toEqual([]);
    expect(plan.groups[1].remove.map((r) => r.ruleId)).toEqual(['sgr-sg-2-10.1.0.0/24']);
  });

  it('moves rules out of a group that has become too full, adding them elsewhere first', () => {
    const observedRules = [...cidrs(5).map((c) => observed('sg-1', c)), observed('sg-1', '192.0.2.0/24', 'manual')];
    const plan = planRuleChanges(input({ desired: cidrs(5).map((c) => rule(c)), observed: observedRules }));
    expect(plan.groups[0].remove.map((r) => r.cidr)).toEqual(['10.1.4.0/24']);
    expect(plan.groups[1].add.map((r) => r.cidr)).toEqual(['10.1.4.0/24']);
    expect(plan.groups[1].removeFirst).toBe(false);
    expect(plan.groups[0].rulesAfter).toBe(5);
  });

  it('removes first only in a group that has no room before its removals', () => {
    // One full group: 5 owned, 2 of them stale; 2 new ranges fit only once the stale ones are gone.
    const observedRules = cidrs(5).map((c) => observed('sg-1', c));
    const desired = [...cidrs(3).map((c) => rule(c)), rule('10.7.0.0/24'), rule('10.7.1.0/24')];
    const plan = planRuleChanges(input({ groupIds: ['sg-1'], desired, observed: observedRules }));
    expect(plan.groups[0].removeFirst).toBe(true);
    expect(totals(plan)).toEqual({ add: 2, remove: 2 });
    expect(plan.groups[0].rulesAfter).toBe(5);
  });

  it('removes owned rules on ports or protocols no longer configured', () => {
    const plan = planRuleChanges(input({ desired: [rule('10.1.0.0/24', 443)], observed: [observed('sg-1', '10.1.0.0/24'), { ...observed('sg-1', '10.1.0.0/24', undefined, 'sgr-80'), fromPort: 80, toPort: 80 }] }));
    expect(plan.groups[0].remove.map((r) => r.ruleId)).toEqual(['sgr-80']);
  });

  it('is in sync when the groups hold exactly the desired set', () => {
    const plan = planRuleChanges(input({ desired: cidrs(3).map((c) => rule(c)), observed: cidrs(3).map((c) => observed('sg-2', c)) }));
    expect(plan.status).toBe('in-sync');
  });

  it('plans 100k CIDRs over many groups', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
    const groupIds = Array.from({ length: 110 }, (_, i) => `sg-${i.toString(16).padStart(4, '0')}`);
    const first = planRuleChanges(input({ groupIds, maxRulesPerGroup: 1000, desired: many.map((c) => rule(c)) }));
    expect(totals(first).add).toBe(100_000);
    const observedRules = first.groups.flatMap((g) => g.add.map((r) => observed(g.groupId, r.cidr)));
    const second = planRuleChanges(input({ groupIds, maxRulesPerGroup: 1000, desired: many.slice(10).map((c) => rule(c)), observed: observedRules }));
    expect(totals(second)).toEqual({ add: 0, remove: 10 });
  });
});

describe('planTarget', () => {
  it('compares IPv6 rules in canonical form, whatever form EC2 returns', () => {
    const t = target({ securityGroupIds: ['sg-01'] });
    const observedRules: ObservedRule[] = [
      { groupId: 'sg-01', ruleId: 'sgr-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '2600:9000:0::/28', description: 'origin-guard:edge:aws' },
    ];
    expect(planTarget(t, [awsSource(['2600:9000::/28'])], observedRules).status).toBe('in-sync');
  });

  it('builds CIDR × port rules in the configured IP versions, the first source naming each CIDR', () => {
    const t = target({ ports: [443, 80], ipVersions: ['ipv4'] });
    const rules = desiredRules(t, [
      { source: 'static', label: 'static', cidrs: ['203.0.113.10/32', '2001:db8::/32'] },
      { source: 'cloudflare', label: 'cloudflare', cidrs: ['203.0.113.10/32', '198.51.100.0/24'] },
    ]);
    expect(rules.map((r) => `${r.cidr}:${r.fromPort}:${r.description}`)).toEqual([
      '203.0.113.10/32:80:origin-guard:edge:static',
      '198.51.100.0/24:80:origin-guard:edge:cloudflare',
      '203.0.113.10/32:443:origin-guard:edge:static',
      '198.51.100.0/24:443:origin-guard:edge:cloudflare',
    ]);
  });

  it("recommends AWS's managed prefix list when the target admits only CLOUDFRONT_ORIGIN_FACING", () => {
    expect(managedPrefixListAdvice(target({ sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }] }))).toMatch(/com\.amazonaws\.global\.cloudfront\.origin-facing/);
    expect(managedPrefixListAdvice(target())).toBeUndefined();
    expect(managedPrefixListAdvice(target({ sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }, { type: 'cloudflare' }] }))).toBeUndefined();
  });
});

describe('planTarget in prefix-list mode', () => {
  const t = () =>
    target({ securityGroupIds: ['sg-01'], ports: [443], mode: 'prefix-list', prefixListIds: ['pl-0aaa', 'pl-0bbb', 'pl-0ccc'], sources: [{ type: 'static', cidrs: ['203.0.113.10/32'] }] });
  const lists = [
    { id: 'pl-0ccc', family: 'ipv6' as const, maxEntries: 2 },
    { id: 'pl-0aaa', family: 'ipv4' as const, maxEntries: 2 },
    { id: 'pl-0bbb', family: 'ipv4' as const, maxEntries: 3 },
  ];

  it('puts each family into its own lists up to MaxEntries and references every list from the groups', () => {
    const plan = planTarget(t(), [{ source: 's', label: 'aws', cidrs: ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24', '2001:db8::/32'] }], [], { prefixLists: lists });
    expect(plan.status).toBe('changes');
    expect(plan.groups.map((g) => [g.groupId, g.add.map((r) => r.cidr)])).toEqual([
      ['pl-0aaa', ['10.0.0.0/24', '10.0.1.0/24']],
      ['pl-0bbb', ['10.0.2.0/24', '10.0.3.0/24']],
      ['pl-0ccc', ['2001:db8::/32']],
      ['sg-01', ['pl-0aaa', 'pl-0bbb', 'pl-0ccc']],
    ]);
  });

  it('counts each reference as its list\'s MaxEntries against the security group quota', () => {
    const big = [
      { id: 'pl-0aaa', family: 'ipv4' as const, maxEntries: 40 },
      { id: 'pl-0bbb', family: 'ipv4' as const, maxEntries: 15 },
      { id: 'pl-0ccc', family: 'ipv6' as const, maxEntries: 10 },
    ];
    const plan = planTarget(t(), [{ source: 's', label: 'aws', cidrs: ['10.0.0.0/24', '2001:db8::/32'] }], [], { prefixLists: big });
    // 40 + 15 + 10 = 65 rules' worth of references in a group of 60.
    expect(plan.status).toBe('insufficient-capacity');
    // More groups would not help (each references every list): the note says what would.
    expect(plan.groupsNeeded).toBe(0);
    expect(plan.notes.join(' ')).toMatch(/count as their MaxEntries against sg-01's quota: 40 \+ 15 \+ 10 = 65, with 0 used by other rules, of 60\. Lower the lists' MaxEntries/);
    const fits = planTarget(t(), [{ source: 's', label: 'aws', cidrs: ['10.0.0.0/24', '2001:db8::/32'] }], [], { prefixLists: big.slice(0, 2).concat({ ...big[2], maxEntries: 5 }) });
    expect(fits.status).toBe('changes');
    expect(fits.groups.find((g) => g.groupId === 'sg-01')?.rulesAfter).toBe(60);
  });

  it('counts missing lists per family', () => {
    const plan = planTarget(t(), [{ source: 's', label: 'aws', cidrs: ['2001:db8::/32', '2001:db9::/32', '2001:dba::/32', '2001:dbb::/32'] }], [], { prefixLists: lists });
    expect(plan.status).toBe('insufficient-capacity');
    expect(plan.notes[0]).toMatch(/2 IPv6 missing\).*Add 1 more prefix list /);
  });
});
