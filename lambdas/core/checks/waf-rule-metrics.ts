import { findingOf, type AuditCheck } from '../audit-model.ts';

/** The web ACL and each rule publish CloudWatch metrics and keep sampled requests: the evidence after an incident. */
export const wafRuleMetrics: AuditCheck = {
  id: 'waf.rule-metrics',
  title: 'Web ACL and rules have CloudWatch metrics and sampling',
  severity: 'LOW',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      if (!acl.webAcl) return [];
      const dark: string[] = [];
      const visibility = acl.webAcl.visibility;
      if (visibility && (!visibility.CloudWatchMetricsEnabled || !visibility.SampledRequestsEnabled)) dark.push(`(web ACL ${acl.config.name})`);
      for (const rule of acl.webAcl.rules) {
        const v = rule.VisibilityConfig;
        if (v && (!v.CloudWatchMetricsEnabled || !v.SampledRequestsEnabled)) dark.push(rule.Name ?? '');
      }
      if (dark.length === 0) return [findingOf(this, acl.resource, true, `${acl.config.name} and its rules publish metrics and sampled requests.`, 'None.')];
      return [
        findingOf(
          this,
          acl.resource,
          false,
          `${acl.config.name} has rules without CloudWatch metrics or sampled requests: ${dark.join(', ')}.`,
          `Set VisibilityConfig.CloudWatchMetricsEnabled and SampledRequestsEnabled to true on those rules.`,
          { rules: dark },
        ),
      ];
    });
  },
};
