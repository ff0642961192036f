import { describe, expect, it } from 'vitest';
import { IpRangeTargetSchema } from '../../lambdas/config.ts';
import { managedPrefixListAdvice, normalizeObserved, planRuleChanges, ruleDescription, type DesiredRule, type ObservedRule } from '../../lambdas/core/range-planner.ts';

const v4 = (n: number) => Array.from({ length: n }, (_, i) => `198.51.${i}.0/24`);
const v6 = (n: number) => Array.from({ length: n }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
const desired = (cidrs: string[], label = 'aws'): DesiredRule[] =>
  cidrs.map((cidr) => ({ cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description: ruleDescription('edge', label) }));
const handMade = (groupId: string, cidrs: string[], description = 'CloudFront'): ObservedRule[] =>
  cidrs.map((cidr, i) => ({ groupId, ruleId: `sgr-hand${i}`, cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description }));
const plan = (input: Partial<Parameters<typeof planRuleChanges>[0]>) =>
  planRuleChanges({ target: 'edge', groupIds: ['sg-01'], maxRulesPerGroup: 60, maxRemovalFraction: 0.3, desired: [], observed: [], ...input });

describe('adoption of identical hand-made rules', () => {
  it('counts a hand-made rule with the same protocol, ports and CIDR as admitting the range: nothing to add, no extra capacity', () => {
    // Arrange: 47 CloudFront rules made by hand in a group of 60 (the SG-updater sample's description).
    const cidrs = v4(47);
    const result = plan({ desired: desired(cidrs), observed: handMade('sg-01', cidrs) });
    // Assert: in sync, nothing added (an add would be an InvalidPermission.Duplicate), no group missing.
    expect(result.status).toBe('in-sync');
    expect(result.groups[0]).toMatchObject({ add: [], remove: [], adopt: [], matchedUnowned: 47, rulesAfter: 47 });
  });

  it('with adopt, rewrites the descriptions of exactly the matching rules and adds only what is truly missing', () => {
    const cidrs = v4(47);
    const observed = [...handMade('sg-01', cidrs.slice(0, 45)), ...handMade('sg-01', ['10.0.0.0/8'], 'office')];
    const result = plan({ desired: desired(cidrs), observed, adopt: true });
    expect(result.status).toBe('changes');
    const g = result.groups[0];
    expect(g.adopt.map((r) => r.cidr)).toEqual(cidrs.slice(0, 45));
    expect(g.adopt.every((r) => r.ruleId?.startsWith('sgr-hand') && r.description === 'origin-guard:edge:aws')).toBe(true);
    expect(g.add.map((r) => r.cidr)).toEqual(cidrs.slice(45));
    expect(g.remove).toEqual([]);
    expect(g.rulesAfter).toBe(48);
  });

  it('leaves hand-made rules for ranges no longer desired alone, and adopts a rule written in another IPv6 spelling', () => {
    const observed = normalizeObserved([...handMade('sg-01', ['2001:0db8:0000::/32']), ...handMade('sg-01', ['192.0.2.0/24'])].map((r, i) => ({ ...r, ruleId: `sgr-${i}` })), 'edge');
    const result = plan({ desired: desired(['2001:db8::/32']), observed, adopt: true });
    expect(result.groups[0]).toMatchObject({ add: [], remove: [], matchedUnowned: 1 });
    expect(result.groups[0].adopt).toEqual([expect.objectContaining({ ruleId: 'sgr-0', cidr: '2001:db8::/32', description: 'origin-guard:edge:aws' })]);
  });

  it('does not count a rule on another port as the same rule', () => {
    const result = plan({ desired: desired(['192.0.2.0/24']), observed: handMade('sg-01', ['192.0.2.0/24']).map((r) => ({ ...r, fromPort: 80, toPort: 80 })), adopt: true });
    expect(result.groups[0]).toMatchObject({ adopt: [], matchedUnowned: 0 });
    expect(result.groups[0].add).toHaveLength(1);
  });
});

describe('quota per family, as AWS counts it', () => {
  it('fits 60 IPv4 and 60 IPv6 rules in one group of 60', () => {
    const result = plan({ desired: desired([...v4(60), ...v6(60)]) });
    expect(result.status).toBe('changes');
    expect(result.groups[0].add).toHaveLength(120);
    expect(result.groups[0].families).toEqual({
      ipv4: { before: 0, after: 60, unowned: 0, quota: 60 },
      ipv6: { before: 0, after: 60, unowned: 0, quota: 60 },
    });
    expect(result.groups[0].rulesAfter).toBe(60);
  });

  it('asks for groups by the fuller family, and counts unowned rules in their own family only', () => {
    // 61 IPv4 (with 1 unowned IPv4 rule: 2 missing) and 10 IPv6: one more group, not two.
    const result = plan({ desired: desired([...v4(61), ...v6(10)]), observed: handMade('sg-01', ['10.0.0.0/8'], 'office') });
    expect(result.status).toBe('insufficient-capacity');
    expect(result.groupsNeeded).toBe(1);
    expect(result.notes.join(' ')).toMatch(/2 IPv4 missing/);
  });

  it('counts a prefix-list reference in both families by its MaxEntries', () => {
    const ref: DesiredRule = { cidr: 'pl-0a', protocol: 'tcp', fromPort: 443, toPort: 443, description: ruleDescription('edge', 'prefix-list'), weight: 55 };
    const full = plan({ desired: [ref], observed: handMade('sg-01', v6(6), 'ipv6 by hand') });
    expect(full.status).toBe('insufficient-capacity');
    const fits = plan({ desired: [ref], observed: handMade('sg-01', v6(5), 'ipv6 by hand') });
    expect(fits.groups[0].families.ipv6.after).toBe(60);
    expect(fits.groups[0].families.ipv4.after).toBe(55);
  });
});

describe('managed prefix list advice', () => {
  it('names the IPv6 origin-facing list too when the target admits IPv6', () => {
    const t = IpRangeTargetSchema.parse({ name: 'edge', securityGroupIds: ['sg-0a'], ports: [443], ipVersions: ['ipv4', 'ipv6'], sources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'] }] });
    expect(managedPrefixListAdvice(t)).toMatch(/com\.amazonaws\.global\.cloudfront\.origin-facing \(IPv4\) and com\.amazonaws\.global\.ipv6\.cloudfront\.origin-facing \(IPv6\)/);
    expect(managedPrefixListAdvice({ ...t, ipVersions: ['ipv6'] })).not.toMatch(/\(IPv4\)/);
  });
});
