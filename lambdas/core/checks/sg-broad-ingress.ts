import { addressShare, cidrsOfRule, findingOf, OPEN_CIDRS, opensPort, originGroupsOf, type AuditCheck } from '../audit-model.ts';

/**
 * No CIDR on the origin ports admits more than `audit.broadIngressShare` of its family's address space, in a
 * rule or in a customer prefix list the group references. Catches what `sg.open-ingress` does not: `0.0.0.0/1`
 * + `128.0.0.0/1`, a /4, or a prefix list someone filled with them; on the listed groups and on the groups
 * actually attached to the origin's load balancers and network interfaces.
 */
export const securityGroupBroadIngress: AuditCheck = {
  id: 'sg.broad-ingress',
  title: 'No broad CIDR (by address arithmetic) on the origin ports',
  severity: 'CRITICAL',
  run(observed) {
    const share = observed.settings.broadIngressShare;
    return originGroupsOf(observed).flatMap(({ group, ports }) => {
      if (!group.ingress) return [];
      const broad: Array<{ ruleId: string; cidr: string; share: number; via?: string }> = [];
      for (const rule of group.ingress) {
        if (!ports.some((p) => opensPort(rule, p.protocol, p.port))) continue;
        for (const cidr of cidrsOfRule(rule, observed.prefixLists)) {
          const s = addressShare(cidr);
          // 0.0.0.0/0 and ::/0 in a rule are sg.open-ingress's finding; in a prefix list they are this one's.
          if (OPEN_CIDRS.includes(cidr) && !rule.prefixListId) continue;
          if (s > share) broad.push({ ruleId: rule.ruleId, cidr, share: s, ...(rule.prefixListId ? { via: rule.prefixListId } : {}) });
        }
      }
      if (broad.length === 0) {
        return [findingOf(this, group.groupId, true, `${group.groupId} admits no CIDR wider than ${share} of the address space on the origin ports.`, 'None.')];
      }
      const described = broad.map((b) => `${b.cidr}${b.via ? ` (in ${b.via})` : ''} = ${(b.share * 100).toPrecision(3)}% (${b.ruleId})`);
      const ruleIds = [...new Set(broad.map((b) => b.ruleId))];
      return [
        findingOf(
          this,
          group.groupId,
          false,
          `${group.groupId} admits broad address ranges on the origin ports: ${described.join(', ')}; anyone in them can reach the origin around the CDN.`,
          `Remove the broad rules or prefix-list entries (aws ec2 revoke-security-group-ingress --group-id ${group.groupId} --security-group-rule-ids ${ruleIds.join(' ')}) and let origin-guard reconcile admit the CDN ranges only.`,
          { ruleIds, cidrs: broad.map((b) => b.cidr), threshold: share },
        ),
      ];
    });
  },
};
