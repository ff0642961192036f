import { findingOf, type AuditCheck } from '../audit-model.ts';
import { STAGE } from '../ports.ts';

const DAY_MS = 86_400_000;

/** The secret was rotated within `rotationDays` (plus grace): rotations that silently fail show up here. */
export const secretRotationAge: AuditCheck = {
  id: 'secret.rotation-age',
  title: 'Last rotation within rotationDays plus grace',
  severity: 'MEDIUM',
  run(observed, now) {
    return observed.secrets.flatMap((s) => {
      if (!s.description) return [];
      const current = s.description.versions.find((v) => v.stages.includes(STAGE.CURRENT));
      const since = s.description.lastRotatedAt ?? current?.createdAt;
      if (!since) return [];
      const ageDays = (now.getTime() - since.getTime()) / DAY_MS;
      const limitDays = s.rotationDays + observed.settings.rotationGraceHours / 24;
      const age = `${Math.floor(ageDays)} day(s)`;
      if (ageDays <= limitDays) {
        return [findingOf(this, s.secretName, true, `Secret ${s.secretName} was last rotated ${age} ago (every ${s.rotationDays} days).`, 'None.')];
      }
      return [
        findingOf(
          this,
          s.secretName,
          false,
          `Secret ${s.secretName} was last rotated ${age} ago, more than rotationDays ${s.rotationDays} plus grace: rotation is not happening.`,
          `Look at the rotation function's logs and alerts, then rotate: origin-guard rotate --secret ${s.name}`,
          { lastRotatedAt: since.toISOString(), rotationDays: s.rotationDays },
        ),
      ];
    });
  },
};
