import { findingOf, type AuditCheck } from '../audit-model.ts';
import { rotationView } from '../rotation-state.ts';

/** The overlap (previous value still accepted) is closed within overlapMinutes plus grace: `retire` ran. */
export const secretOverlapWindow: AuditCheck = {
  id: 'secret.overlap-window',
  title: 'Overlap closed within its window',
  severity: 'MEDIUM',
  run(observed, now) {
    return observed.secrets.flatMap((s) => {
      if (!s.description) return [];
      const opened = rotationView(s.description).overlapOpenedAt;
      const limitMs = (s.overlapMinutes + observed.settings.overlapGraceMinutes) * 60_000;
      if (!opened || now.getTime() - opened.getTime() <= limitMs) {
        return [
          findingOf(this, s.secretName, true, opened ? `Secret ${s.secretName} is in its overlap window.` : `Secret ${s.secretName} accepts no previous value.`, 'None.'),
        ];
      }
      const minutes = Math.floor((now.getTime() - opened.getTime()) / 60_000);
      return [
        findingOf(
          this,
          s.secretName,
          false,
          `Secret ${s.secretName}'s previous value is still accepted ${minutes} minutes after the switch (overlap ${s.overlapMinutes} min): retire did not run.`,
          `Run origin-guard retire --secret ${s.name}; check the retire schedule and its alerts.`,
          { overlapOpenedAt: opened.toISOString() },
        ),
      ];
    });
  },
};
