import type { Rule } from '@aws-sdk/client-wafv2';
import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Whether a rule can block: its own action, or a rule group it applies without a Count override. */
function blocks(rule: Rule): boolean {
  if (rule.Action) return rule.Action.Block !== undefined || rule.Action.Captcha !== undefined || rule.Action.Challenge !== undefined;
  if (rule.OverrideAction) return rule.OverrideAction.Count === undefined;
  return false;
}

/** A web ACL whose default action is Allow has at least one rule that blocks; otherwise it lets everything in. */
export const wafDefaultAction: AuditCheck = {
  id: 'waf.default-action',
  title: 'Web ACL blocks something (default action Allow needs a blocking rule)',
  severity: 'HIGH',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      if (!acl.webAcl) return [];
      const defaultAction = acl.webAcl.defaultAction;
      if (defaultAction === undefined) return [];
      if (defaultAction === 'BLOCK') return [findingOf(this, acl.resource, true, `${acl.config.name} blocks by default.`, 'None.')];
      const blocking = acl.webAcl.rules.filter(blocks).map((r) => r.Name ?? '');
      if (blocking.length > 0) {
        return [findingOf(this, acl.resource, true, `${acl.config.name} allows by default and blocks with ${blocking.join(', ')}.`, 'None.')];
      }
      return [
        findingOf(
          this,
          acl.resource,
          false,
          `${acl.config.name} allows every request: its default action is Allow and no rule blocks.`,
          `Add blocking rules (the origin-verify rule: origin-guard rotate; managed rule groups) or set the default action to Block.`,
        ),
      ];
    });
  },
};
