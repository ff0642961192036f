import { cidrWithin, findingOf, opensPort, VPC_ORIGIN_SERVICE_GROUP_NAME, type AuditCheck, type ObservedAccount, type ObservedAuditOrigin } from '../audit-model.ts';

/** The ingress rules of the origin's groups on its ports. */
function onOriginPorts(origin: ObservedAuditOrigin) {
  return origin.groups.flatMap((g) => (g.ingress ?? []).filter((r) => origin.config.ports.some((port) => opensPort(r, origin.config.protocol, port))).map((r) => ({ groupId: g.groupId, rule: r })));
}

/**
 * A CloudFront VPC origin is reached through CloudFront's own service group: the origin's groups admit that group
 * and nothing broader on the origin ports (CDN ranges there are pointless, and reach the origin around the VPC origin).
 */
export const originVpcOriginGroup: AuditCheck = {
  id: 'origin.vpc-origin-group',
  title: 'VPC origin admits only CloudFront-VPCOrigins-Service-SG',
  severity: 'HIGH',
  run(observed) {
    return observed.origins.flatMap((origin) => {
      if (!origin.config.vpcOrigin || origin.groups.some((g) => !g.ingress)) return [];
      const service = origin.vpcOriginServiceGroupId;
      const rules = onOriginPorts(origin);
      const admitsService = service !== undefined && rules.some((r) => r.rule.referencedGroupId === service);
      // Address rules (CIDRs, prefix lists) are broader than the service group; other group references are not.
      const wide = rules.filter((r) => r.rule.cidrIpv4 || r.rule.cidrIpv6 || r.rule.prefixListId);
      if (admitsService && wide.length === 0) {
        return [findingOf(this, origin.resource, true, `VPC origin ${origin.config.name} admits only ${VPC_ORIGIN_SERVICE_GROUP_NAME} (${service}) on its ports.`, 'None.')];
      }
      const problems = [
        ...(service === undefined ? [`no ${VPC_ORIGIN_SERVICE_GROUP_NAME} exists in its VPC (the VPC origin was never created, or was deleted)`] : []),
        ...(service !== undefined && !admitsService ? [`its groups do not admit ${VPC_ORIGIN_SERVICE_GROUP_NAME} (${service})`] : []),
        ...(wide.length ? [`they admit addresses on the origin ports: ${wide.map((r) => `${r.groupId} ${r.rule.cidrIpv4 ?? r.rule.cidrIpv6 ?? r.rule.prefixListId} (${r.rule.ruleId})`).join(', ')}`] : []),
      ];
      return [
        findingOf(
          this,
          origin.resource,
          false,
          `VPC origin ${origin.config.name} is not reached through CloudFront's service group alone: ${problems.join('; ')}.`,
          `Admit ${VPC_ORIGIN_SERVICE_GROUP_NAME} on the origin ports (aws ec2 authorize-security-group-ingress --source-group ...) and revoke the address rules; a VPC origin needs no CDN ranges.`,
          { serviceGroupId: service ?? null, ruleIds: wide.map((r) => r.rule.ruleId) },
        ),
      ];
    });
  },
};

/** Whether every rule on the origin ports admits CloudFront only (its managed list or CIDRs inside it). */
function cloudFrontOnly(origin: ObservedAuditOrigin, observed: ObservedAccount): boolean {
  const listId = observed.cloudFrontPrefixListId;
  const cidrs = listId ? (observed.prefixLists[listId]?.cidrs ?? []) : [];
  const rules = onOriginPorts(origin);
  return (
    rules.length > 0 &&
    rules.every(({ rule }) => (listId !== undefined && rule.prefixListId === listId) || [rule.cidrIpv4 ?? rule.cidrIpv6].some((c) => c !== undefined && cidrs.some((cf) => cidrWithin(c, cf))))
  );
}

/**
 * Informational: a public load balancer that only CloudFront reaches would be better a VPC origin (private, no
 * public address to aim at, and no shared CloudFront ranges to admit).
 */
export const originVpcOriginCandidate: AuditCheck = {
  id: 'origin.vpc-origin-candidate',
  title: 'Public origin reached only by CloudFront could be a VPC origin',
  severity: 'LOW',
  run(observed) {
    return observed.origins.flatMap((origin) => {
      if (origin.config.vpcOrigin || origin.internetFacing === undefined || origin.groups.some((g) => !g.ingress)) return [];
      if (!origin.internetFacing || !cloudFrontOnly(origin, observed)) {
        return [findingOf(this, origin.resource, true, `Origin ${origin.config.name} is not a public load balancer reached only by CloudFront.`, 'None.')];
      }
      return [
        findingOf(
          this,
          origin.resource,
          false,
          `Origin ${origin.config.name} is an internet-facing load balancer that only CloudFront reaches: as a CloudFront VPC origin it would have no public address and need no shared CloudFront ranges.`,
          `Create an internal load balancer and a CloudFront VPC origin for it (aws cloudfront create-vpc-origin), point the distribution at it, then set audit.origins[].vpcOrigin to true.`,
        ),
      ];
    });
  },
};
