/**
 * Every audit check, one per file, each pure: observed state in, findings out. The order here is the order
 * of the report (before failed-first sorting) and of the SARIF rules.
 */
import type { AuditCheck, ObservedAccount } from '../audit-model.ts';
import type { Finding } from '../ports.ts';
import { cloudFrontLogging } from './cloudfront-logging.ts';
import { cloudFrontS3Oac } from './cloudfront-s3-oac.ts';
import { cloudFrontViewerTls } from './cloudfront-viewer-tls.ts';
import { originAnyDistribution } from './origin-any-distribution.ts';
import { originVpcOriginCandidate, originVpcOriginGroup } from './origin-vpc-origin.ts';
import { peeringDnsResolution } from './peering-dns-resolution.ts';
import { securityGroupAdminPorts } from './sg-admin-ports.ts';
import { securityGroupBroadIngress } from './sg-broad-ingress.ts';
import { wafDefaultAction } from './waf-default-action.ts';
import { wafRuleMetrics } from './waf-rule-metrics.ts';
import { wafRulesBeforeOriginVerify } from './waf-rules-before-origin-verify.ts';
import { watchRules } from './watch-rules.ts';
import { cloudFrontOriginSecret } from './cloudfront-origin-secret.ts';
import { cloudFrontOriginTls } from './cloudfront-origin-tls.ts';
import { cloudFrontViewerProtocol } from './cloudfront-viewer-protocol.ts';
import { cloudFrontWebAcl } from './cloudfront-web-acl.ts';
import { konnectAttachments } from './konnect-attachments.ts';
import { konnectNetwork } from './konnect-network.ts';
import { peeringActive } from './peering-active.ts';
import { peeringRoutes } from './peering-routes.ts';
import { probeOriginWithoutHeader } from './probe-origin-without-header.ts';
import { probeOriginWrongValue } from './probe-origin-wrong-value.ts';
import { probeThroughCdn } from './probe-through-cdn.ts';
import { auditReadFailures } from './read-failures.ts';
import { secretOverlapWindow } from './secret-overlap-window.ts';
import { secretPendingStuck } from './secret-pending-stuck.ts';
import { secretRotationAge } from './secret-rotation-age.ts';
import { secretRotationEnabled } from './secret-rotation-enabled.ts';
import { securityGroupOpenIngress } from './sg-open-ingress.ts';
import { securityGroupOwnedRules } from './sg-owned-rules.ts';
import { securityGroupQuota } from './sg-quota.ts';
import { transitGatewayAttachment } from './tgw-attachment.ts';
import { transitGatewayAutoAccept } from './tgw-auto-accept.ts';
import { transitGatewayRouteTables } from './tgw-route-tables.ts';
import { transitGatewayRoutes } from './tgw-routes.ts';
import { wafAssociated } from './waf-associated.ts';
import { wafExists } from './waf-exists.ts';
import { wafLogging } from './waf-logging.ts';
import { wafLogRedaction } from './waf-log-redaction.ts';
import { wafManagedRules } from './waf-managed-rules.ts';
import { wafOriginVerify } from './waf-origin-verify.ts';
import { wafRateRule } from './waf-rate-rule.ts';

export const ALL_CHECKS: readonly AuditCheck[] = [
  wafExists,
  wafAssociated,
  wafManagedRules,
  wafRateRule,
  wafLogging,
  wafLogRedaction,
  wafOriginVerify,
  wafRulesBeforeOriginVerify,
  wafDefaultAction,
  wafRuleMetrics,
  cloudFrontWebAcl,
  cloudFrontOriginTls,
  cloudFrontOriginSecret,
  cloudFrontViewerProtocol,
  cloudFrontViewerTls,
  cloudFrontLogging,
  cloudFrontS3Oac,
  originAnyDistribution,
  originVpcOriginGroup,
  originVpcOriginCandidate,
  securityGroupOwnedRules,
  securityGroupOpenIngress,
  securityGroupBroadIngress,
  securityGroupAdminPorts,
  securityGroupQuota,
  peeringActive,
  peeringRoutes,
  peeringDnsResolution,
  transitGatewayAttachment,
  transitGatewayAutoAccept,
  transitGatewayRoutes,
  transitGatewayRouteTables,
  secretRotationEnabled,
  secretRotationAge,
  secretPendingStuck,
  secretOverlapWindow,
  konnectNetwork,
  konnectAttachments,
  probeOriginWithoutHeader,
  probeOriginWrongValue,
  probeThroughCdn,
  watchRules,
  auditReadFailures,
];

/** FAIL outranks INCONCLUSIVE, which outranks PASS: what could not be decided never reads as a pass. */
const STATUS_RANK: Record<Finding['status'], number> = { PASS: 0, INCONCLUSIVE: 1, FAIL: 2 };

/**
 * Runs `checks` on one observation. Two findings with one id (a resource reached by two config entries)
 * become one, failing if either fails, so the alert state sees each id once.
 */
export function runChecks(observed: ObservedAccount, now: Date, checks: readonly AuditCheck[] = ALL_CHECKS): Finding[] {
  const byId = new Map<string, Finding>();
  for (const check of checks) {
    for (const finding of check.run(observed, now)) {
      const seen = byId.get(finding.id);
      if (!seen || STATUS_RANK[finding.status] > STATUS_RANK[seen.status]) byId.set(finding.id, finding);
    }
  }
  return [...byId.values()];
}

export {
  cloudFrontLogging,
  cloudFrontS3Oac,
  cloudFrontViewerTls,
  originAnyDistribution,
  originVpcOriginCandidate,
  originVpcOriginGroup,
  peeringDnsResolution,
  securityGroupAdminPorts,
  securityGroupBroadIngress,
  wafDefaultAction,
  wafRuleMetrics,
  wafRulesBeforeOriginVerify,
  watchRules,
  cloudFrontOriginSecret,
  cloudFrontOriginTls,
  cloudFrontViewerProtocol,
  cloudFrontWebAcl,
  konnectAttachments,
  konnectNetwork,
  peeringActive,
  peeringRoutes,
  probeOriginWithoutHeader,
  probeOriginWrongValue,
  probeThroughCdn,
  auditReadFailures,
  secretOverlapWindow,
  secretPendingStuck,
  secretRotationAge,
  secretRotationEnabled,
  securityGroupOpenIngress,
  securityGroupOwnedRules,
  securityGroupQuota,
  transitGatewayAttachment,
  transitGatewayAutoAccept,
  transitGatewayRoutes,
  transitGatewayRouteTables,
  wafAssociated,
  wafExists,
  wafLogging,
  wafLogRedaction,
  wafManagedRules,
  wafOriginVerify,
  wafRateRule,
};
