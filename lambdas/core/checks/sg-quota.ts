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
      // A rule that references a prefix list counts as the list's MaxEntries, as AWS counts it.
      const used = group.ingress.reduce((n, rule) => n + (rule.weight ?? 1), 0);
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
