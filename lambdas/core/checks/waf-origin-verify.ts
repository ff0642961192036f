import { findingOf, type AuditCheck } from '../audit-model.ts';
import { describeFingerprints, rotationExpectations } from './rotation-expectations.ts';

/**
 * The origin-verify rule accepts exactly what the rotation state allows: the current value, plus the pending
 * one during a rotation and the previous one while the overlap is open. An extra value is a leaked or stale
 * key that still opens the origin; a missing one refuses real traffic.
 */
export const wafOriginVerify: AuditCheck = {
  id: 'waf.origin-verify',
  title: 'Origin-verify rule accepts exactly the allowed values',
  severity: 'HIGH',
  run(observed) {
    return observed.originVerifyRules.flatMap((rule) => {
      const secret = observed.secrets.find((s) => s.name === rule.secret);
      const expected = secret && rotationExpectations(secret);
      if (rule.state === 'acl-missing') {
        return [
          findingOf(
            this,
            rule.resource,
            false,
            `The web ACL of ${rule.resource} does not exist, so nothing checks ${rule.headerName} there.`,
            `Recreate the web ACL or fix the wafv2 validator of secret "${rule.secret}" in the config, then run: origin-guard rotate --secret ${rule.secret}`,
          ),
        ];
      }
      if (rule.state === 'rule-missing' || rule.state === 'unrecognised') {
        const what =
          rule.state === 'rule-missing'
            ? `has no origin-verify rule: requests without ${rule.headerName} are not blocked there`
            : `was edited outside origin-guard and no longer has its shape (block unless ${rule.headerName} exactly matches)`;
        return [
          findingOf(
            this,
            rule.resource,
            false,
            `${rule.resource} ${what}.`,
            `Run origin-guard rotate --secret ${rule.secret} to rewrite the rule (or rename a hand-made rule that uses its name).`,
          ),
        ];
      }
      if (!expected) return [];
      const accepted = rule.acceptedFingerprints;
      const extra = accepted.filter((f) => !expected.allowed.includes(f));
      const missing = expected.required.filter((f) => !accepted.includes(f));
      const details = { accepted, required: expected.required, allowed: expected.allowed };
      if (extra.length === 0 && missing.length === 0) {
        return [
          findingOf(this, rule.resource, true, `${rule.resource} accepts ${describeFingerprints(accepted, expected)}, as the rotation state allows.`, 'None.', details),
        ];
      }
      const problems = [
        ...(extra.length ? [`accepts ${describeFingerprints(extra, expected)} which the rotation state does not allow`] : []),
        ...(missing.length ? [`does not accept ${describeFingerprints(missing, expected)}`] : []),
      ];
      return [
        findingOf(
          this,
          rule.resource,
          false,
          `${rule.resource} ${problems.join(' and ')} (fingerprints).`,
          extra.length && !expected.view.overlapOpenedAt && !expected.view.rotating
            ? `If a rotation's overlap is over, run origin-guard retire --secret ${rule.secret}; otherwise rotate: origin-guard rotate --secret ${rule.secret}.`
            : `Run origin-guard rotate --secret ${rule.secret} (it resumes a rotation under way and rewrites the rule).`,
          details,
        ),
      ];
    });
  },
};
