import { cidrWithin, findingOf, opensPort, type AuditCheck, type ObservedAccount, type ObservedAuditOrigin } from '../audit-model.ts';

/** The rules of the origin's groups that admit CloudFront: the managed prefix list, or CIDRs inside it. */
function cloudFrontAdmissions(origin: ObservedAuditOrigin, observed: ObservedAccount): string[] {
  const listId = observed.cloudFrontPrefixListId;
  const cloudFrontCidrs = listId ? (observed.prefixLists[listId]?.cidrs ?? []) : [];
  const found: string[] = [];
  for (const group of origin.groups) {
    for (const rule of group.ingress ?? []) {
      if (!origin.config.ports.some((port) => opensPort(rule, origin.config.protocol, port))) continue;
      const cidr = rule.cidrIpv4 ?? rule.cidrIpv6;
      if (listId && rule.prefixListId === listId) found.push(`${group.groupId}: ${listId} (${rule.ruleId})`);
      else if (cidr && cloudFrontCidrs.some((cf) => cidrWithin(cidr, cf))) found.push(`${group.groupId}: ${cidr} (${rule.ruleId})`);
    }
  }
  return found;
}

/**
 * An origin that admits CloudFront's addresses but checks no origin-verify header is reachable through any
 * CloudFront distribution, an attacker's included (own distribution pointing at the origin, Host header set):
 * the security group cannot tell one customer's CloudFront from another's.
 */
export const originAnyDistribution: AuditCheck = {
  id: 'origin.any-distribution',
  title: 'Origin admitting CloudFront checks the origin-verify header',
  severity: 'CRITICAL',
  run(observed) {
    return observed.origins.flatMap((origin) => {
      if (origin.groups.some((g) => !g.ingress)) return [];
      const admissions = cloudFrontAdmissions(origin, observed);
      const name = origin.config.name;
      if (admissions.length === 0) {
        return [findingOf(this, origin.resource, true, `Origin ${name} admits no CloudFront range on its ports: no distribution reaches it.`, 'None.')];
      }
      if (origin.headerCheck === 'present') {
        return [
          findingOf(this, origin.resource, true, `Origin ${name} admits CloudFront and checks the origin-verify header of secret "${origin.config.secret}": other distributions are refused.`, 'None.'),
        ];
      }
      const why = origin.headerCheck === 'none' ? 'nothing checks an origin-verify header' : `the origin-verify rule of secret "${origin.config.secret}" is missing or edited`;
      return [
        findingOf(
          this,
          origin.resource,
          false,
          `Origin ${name} is reachable through any CloudFront distribution, an attacker's included: it admits CloudFront (${admissions.join(', ')}) and ${why}.`,
          `Configure a secret whose validators (WAF rule on the load balancer, Kong route) check the header for origin ${name}, set audit.origins[].secret, and run origin-guard rotate; or make it a CloudFront VPC origin.`,
          { admissions, headerCheck: origin.headerCheck },
        ),
      ];
    });
  },
};
