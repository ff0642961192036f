import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Secrets Manager rotates the secret on a schedule: otherwise a leaked value stays valid forever. */
export const secretRotationEnabled: AuditCheck = {
  id: 'secret.rotation-enabled',
  title: 'Secret rotation enabled',
  severity: 'MEDIUM',
  run(observed) {
    return observed.secrets.map((s) => {
      if (!s.description) {
        return findingOf(
          this,
          s.secretName,
          false,
          `Secret ${s.secretName} (${s.name}) does not exist: origins cannot verify the header.`,
          `Deploy the stack (it creates the secret) or fix secrets[].secretName in the config.`,
        );
      }
      if (s.description.rotationEnabled) {
        return findingOf(this, s.secretName, true, `Secret ${s.secretName} rotates every ${s.description.rotationDays ?? '?'} days.`, 'None.');
      }
      return findingOf(
        this,
        s.secretName,
        false,
        `Secret ${s.secretName} has rotation disabled: its value never changes.`,
        `Re-enable rotation by deploying the stack, or: aws secretsmanager rotate-secret --secret-id ${s.secretName} --rotation-rules AutomaticallyAfterDays=${s.rotationDays}`,
      );
    });
  },
};
