import { findingOf, type AuditCheck } from '../audit-model.ts';

/** A rate-based rule that acts (blocks, or challenges), when the config requires one. */
export const wafRateRule: AuditCheck = {
  id: 'waf.rate-rule',
  title: 'Rate-based rule present and acting',
  severity: 'MEDIUM',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      if (!acl.webAcl || !acl.config.requireRateRule) return [];
      const rateRules = acl.webAcl.rules.filter((rule) => rule.Statement?.RateBasedStatement !== undefined);
      const acting = rateRules.filter((rule) => rule.Action?.Block || rule.Action?.Captcha || rule.Action?.Challenge);
      if (acting.length > 0) {
        return [findingOf(this, acl.resource, true, `${acl.config.name} has rate-based rule ${acting[0].Name}.`, 'None.')];
      }
      const message =
        rateRules.length > 0
          ? `${acl.config.name} has rate-based rule ${rateRules[0].Name} only in Count mode: floods are not stopped.`
          : `${acl.config.name} has no rate-based rule: floods reach the origin.`;
      return [
        findingOf(
          this,
          acl.resource,
          false,
          message,
          `Add (or set to Block) a rate-based rule in ${acl.config.name}, e.g. 2000 requests per 5 minutes per IP, from your infrastructure code.`,
        ),
      ];
    });
  },
};
