import type { Rule } from '@aws-sdk/client-wafv2';
import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Allow ends evaluation: an Allow rule with a lower priority lets its matches through unchecked. */
function terminatesWithAllow(rule: Rule): boolean {
  return rule.Action?.Allow !== undefined;
}

/**
 * No Allow rule runs before the origin-verify rule: WAF evaluates by priority and stops at the first Allow,
 * so (say) a monitoring IP set allowed at priority 0 reaches the origin without the header.
 */
export const wafRulesBeforeOriginVerify: AuditCheck = {
  id: 'waf.rules-before-origin-verify',
  title: 'No Allow rule ahead of the origin-verify rule',
  severity: 'HIGH',
  run(observed) {
    return observed.originVerifyRules.flatMap((ov) => {
      const [, scopeAndAcl, ruleName] = /^wafv2:([^/]+\/[^/]+)\/(.+)$/.exec(ov.resource) ?? [];
      const acl = observed.webAcls.find((a) => a.resource === `wafv2:${scopeAndAcl}`);
      if (ov.state !== 'ok' || !acl?.webAcl) return [];
      const own = acl.webAcl.rules.find((r) => r.Name === ruleName);
      if (!own) return [];
      const ahead = acl.webAcl.rules.filter((r) => r !== own && (r.Priority ?? 0) < (own.Priority ?? 0) && terminatesWithAllow(r));
      if (ahead.length === 0) {
        return [findingOf(this, ov.resource, true, `No Allow rule runs before ${ruleName} in ${acl.config.name}.`, 'None.')];
      }
      const names = ahead.map((r) => `${r.Name} (priority ${r.Priority})`);
      return [
        findingOf(
          this,
          ov.resource,
          false,
          `${acl.config.name} allows requests before checking ${ov.headerName}: ${names.join(', ')} run ahead of ${ruleName} (priority ${own.Priority}).`,
          `Give ${ruleName} a lower priority number than every Allow rule, or turn those rules into Count / label rules.`,
          { rules: ahead.map((r) => r.Name) },
        ),
      ];
    });
  },
};
