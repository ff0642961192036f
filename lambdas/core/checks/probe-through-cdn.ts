import { findingOf, inconclusiveOf, type AuditCheck } from '../audit-model.ts';
import { answered, describeProbe, passed } from './probe-results.ts';

/** A request through the CDN passes: the CDN sends a value the origin accepts. */
export const probeThroughCdn: AuditCheck = {
  id: 'probe.through-cdn',
  title: 'Requests through the CDN pass',
  severity: 'HIGH',
  run(observed) {
    return observed.probes.flatMap((p) => {
      if (!p.cdnUrl || !p.throughCdn) return [];
      if (!answered(p.throughCdn)) {
        return [
          inconclusiveOf(this, `probe:${p.name}`, `${p.cdnUrl} gave ${describeProbe(p.throughCdn)}: whether the CDN reaches the origin is unknown.`, 'Check that the CDN URL resolves and answers from where the audit runs.', {
            result: p.throughCdn,
          }),
        ];
      }
      return [
        passed(p.throughCdn)
          ? findingOf(this, `probe:${p.name}`, true, `${p.cdnUrl} passes to the origin (${describeProbe(p.throughCdn)}).`, 'None.')
          : findingOf(
              this,
              `probe:${p.name}`,
              false,
              `${p.cdnUrl} answered ${describeProbe(p.throughCdn)}: requests through the CDN do not reach the origin.`,
              `Compare what the CDN sends with what the validators accept (origin-guard status); resume or roll back a rotation with origin-guard rotate.`,
              { result: p.throughCdn },
            ),
      ];
    });
  },
};
