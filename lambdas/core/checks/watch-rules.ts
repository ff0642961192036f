import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * origin-guard's own EventBridge rules (the audit and reconcile schedules, the CloudTrail triggers) exist, are
 * enabled and have a target: disabling one silences the audit or the reconciler without any other alert.
 */
export const watchRules: AuditCheck = {
  id: 'watch.rules',
  title: "origin-guard's own rules exist, are enabled and have targets",
  severity: 'HIGH',
  run(observed) {
    return observed.watchedRules.map((rule) => {
      const resource = `events:rule/${rule.name}`;
      if (rule.state === 'ENABLED' && rule.targets > 0) return findingOf(this, resource, true, `Rule ${rule.name} is enabled with ${rule.targets} target(s).`, 'None.');
      const what = !rule.state ? 'does not exist' : rule.state !== 'ENABLED' ? `is ${rule.state}` : 'has no target';
      return findingOf(
        this,
        resource,
        false,
        `origin-guard's rule ${rule.name} ${what}: what it runs (audit, reconcile) is silenced.`,
        !rule.state ? 'Redeploy the origin-guard stack (cdk deploy) to recreate it, and find out who deleted it (CloudTrail DeleteRule).' : `aws events enable-rule --name ${rule.name}; find out who changed it (CloudTrail DisableRule / RemoveTargets).`,
        { state: rule.state ?? null, targets: rule.targets },
      );
    });
  },
};
