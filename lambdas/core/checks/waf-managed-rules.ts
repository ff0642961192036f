import type { Rule } from '@aws-sdk/client-wafv2';
import { findingOf, type AuditCheck } from '../audit-model.ts';

function managedGroupName(rule: Rule): string | undefined {
  return rule.Statement?.ManagedRuleGroupStatement?.Name;
}

/** The required AWS managed rule groups are present and block (a Count override only watches). */
export const wafManagedRules: AuditCheck = {
  id: 'waf.managed-rules',
  title: 'Required managed rule groups present and blocking',
  severity: 'HIGH',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      const required = acl.config.requiredManagedRuleGroups;
      if (!acl.webAcl || required.length === 0) return [];
      const missing: string[] = [];
      const countOnly: string[] = [];
      const weakened: string[] = [];
      for (const group of required) {
        const rules = acl.webAcl.rules.filter((rule) => managedGroupName(rule) === group);
        if (rules.length === 0) missing.push(group);
        else if (rules.every((rule) => rule.OverrideAction?.Count !== undefined)) countOnly.push(group);
        else {
          // Rules of the group turned into Count (RuleActionOverrides) or excluded let their attacks through.
          const names = rules.flatMap((rule) => {
            const statement = rule.Statement?.ManagedRuleGroupStatement;
            return [
              ...(statement?.RuleActionOverrides ?? []).filter((o) => o.ActionToUse?.Count !== undefined || o.ActionToUse?.Allow !== undefined).map((o) => o.Name ?? ''),
              ...(statement?.ExcludedRules ?? []).map((e) => e.Name ?? ''),
            ];
          });
          if (names.length > 0) weakened.push(`${group} (${names.join(', ')})`);
        }
      }
      if (missing.length === 0 && countOnly.length === 0 && weakened.length === 0) {
        return [findingOf(this, acl.resource, true, `${acl.config.name} blocks with ${required.join(', ')}.`, 'None.')];
      }
      const problems = [
        ...(missing.length ? [`missing ${missing.join(', ')}`] : []),
        ...(countOnly.length ? [`count-only (override Count) ${countOnly.join(', ')}`] : []),
        ...(weakened.length ? [`weakened by Count overrides or excluded rules: ${weakened.join('; ')}`] : []),
      ];
      return [
        findingOf(
          this,
          acl.resource,
          false,
          `${acl.config.name} does not enforce required managed rule groups: ${problems.join('; ')}.`,
          `Add the managed rule group(s) to ${acl.config.name} with override action None (not Count), from your infrastructure code.`,
          { missing, countOnly, weakened },
        ),
      ];
    });
  },
};
