import { findingOf, type AuditCheck } from '../audit-model.ts';
import { rotationView } from '../rotation-state.ts';

/** No AWSPENDING older than an hour: a rotation that started and never finished or rolled back is stuck. */
export const secretPendingStuck: AuditCheck = {
  id: 'secret.pending-stuck',
  title: 'No stuck rotation (AWSPENDING older than an hour)',
  severity: 'HIGH',
  run(observed, now) {
    return observed.secrets.flatMap((s) => {
      if (!s.description) return [];
      const view = rotationView(s.description);
      const pending = s.description.versions.find((v) => v.versionId === view.pendingVersionId);
      const createdAt = pending?.createdAt;
      const maxMinutes = observed.settings.pendingMaxMinutes;
      if (!pending || !createdAt || now.getTime() - createdAt.getTime() <= maxMinutes * 60_000) {
        return [findingOf(this, s.secretName, true, `Secret ${s.secretName} has no rotation stuck in progress.`, 'None.')];
      }
      const minutes = Math.floor((now.getTime() - createdAt.getTime()) / 60_000);
      return [
        findingOf(
          this,
          s.secretName,
          false,
          `Secret ${s.secretName} has had an AWSPENDING version for ${minutes} minutes: a rotation is stuck.`,
          `Resume it with origin-guard rotate --secret ${s.name} (steps are idempotent), or cancel: aws secretsmanager cancel-rotate-secret --secret-id ${s.secretName}`,
          { pendingVersionId: pending.versionId, createdAt: createdAt.toISOString() },
        ),
      ];
    });
  },
};
