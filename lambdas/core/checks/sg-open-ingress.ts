import { findingOf, OPEN_CIDRS, securityGroupsOf, type AuditCheck, type ObservedIngressRule } from '../audit-model.ts';

function opensPort(rule: ObservedIngressRule, protocol: string, port: number): boolean {
  if (rule.protocol === '-1') return true;
  if (rule.protocol !== protocol) return false;
  return (rule.fromPort ?? -1) <= port && port <= (rule.toPort ?? -1);
}

/**
 * No ingress from the whole internet on the origin's ports: it lets anyone bypass the CDN and its WAF,
 * leaving the origin-verify header as the only guard.
 */
export const securityGroupOpenIngress: AuditCheck = {
  id: 'sg.open-ingress',
  title: 'No ingress from 0.0.0.0/0 or ::/0 on the origin ports',
  severity: 'CRITICAL',
  run(observed) {
    return securityGroupsOf(observed.securityGroupTargets).flatMap(({ group, targets }) => {
      if (!group.ingress) return [];
      const open = group.ingress.filter((rule) => {
        const cidr = rule.cidrIpv4 ?? rule.cidrIpv6;
        if (!cidr || !OPEN_CIDRS.includes(cidr)) return false;
        return targets.some((t) => t.ports.some((port) => opensPort(rule, t.protocol, port)));
      });
      if (open.length === 0) {
        return [findingOf(this, group.groupId, true, `${group.groupId} admits no one from 0.0.0.0/0 or ::/0 on the origin ports.`, 'None.')];
      }
      const described = open.map((r) => `${r.cidrIpv4 ?? r.cidrIpv6} ${r.protocol === '-1' ? 'all traffic' : `${r.protocol}/${r.fromPort}-${r.toPort}`} (${r.ruleId})`);
      return [
        findingOf(
          this,
          group.groupId,
          false,
          `${group.groupId} admits the whole internet on the origin ports: ${described.join(', ')}.`,
          `aws ec2 revoke-security-group-ingress --group-id ${group.groupId} --security-group-rule-ids ${open.map((r) => r.ruleId).join(' ')}`,
          { ruleIds: open.map((r) => r.ruleId) },
        ),
      ];
    });
  },
};
