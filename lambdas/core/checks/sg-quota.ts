import { findingOf, securityGroupsOf, type AuditCheck } from '../audit-model.ts';

/** Room left under the rules quota: a full group makes the next range update fail to apply. */
export const securityGroupQuota: AuditCheck = {
  id: 'sg.quota',
  title: 'Security group rules quota headroom',
  severity: 'MEDIUM',
  run(observed) {
    const fraction = observed.settings.quotaHeadroomFraction;
    return securityGroupsOf(observed.securityGroupTargets).flatMap(({ group, targets }) => {
      if (!group.ingress) return [];
      const quota = Math.min(...targets.map((t) => t.maxRulesPerGroup));
      // AWS counts IPv4 and IPv6 rules against separate quotas; a rule that references a prefix list counts in
      // both, as the list's MaxEntries. The fuller family is the one that stops the next update.
      const use = { ipv4: 0, ipv6: 0 };
      for (const rule of group.ingress) {
        const w = rule.weight ?? 1;
        const f = rule.cidrIpv4 ? 'ipv4' : rule.cidrIpv6 ? 'ipv6' : 'both';
        if (f !== 'ipv6') use.ipv4 += w;
        if (f !== 'ipv4') use.ipv6 += w;
      }
      const used = Math.max(use.ipv4, use.ipv6);
      const needed = Math.max(1, Math.ceil(quota * fraction));
      const free = quota - used;
      const details = { used, quota, free };
      if (free >= needed) {
        return [findingOf(this, group.groupId, true, `${group.groupId} uses ${used} of ${quota} inbound rules.`, 'None.', details)];
      }
      return [
        findingOf(
          this,
          group.groupId,
          false,
          `${group.groupId} uses ${used} of ${quota} inbound rules (${Math.max(0, free)} free): the next range update may not fit.`,
          `Add another security group to the target (ipRanges.targets[].securityGroupIds), request a higher "Inbound rules per security group" quota and raise maxRulesPerGroup, or use mode "prefix-list".`,
          details,
        ),
      ];
    });
  },
};
