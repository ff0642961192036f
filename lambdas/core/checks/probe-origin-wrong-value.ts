import { findingOf, type AuditCheck } from '../audit-model.ts';
import { describeProbe, refused } from './probe-results.ts';

/** A request straight to the origin with a wrong header value is refused. */
export const probeOriginWrongValue: AuditCheck = {
  id: 'probe.origin-wrong-value',
  title: 'Origin refuses requests with a wrong header value',
  severity: 'HIGH',
  run(observed) {
    return observed.probes.map((p) =>
      refused(p.wrongValue)
        ? findingOf(this, `probe:${p.name}`, true, `${p.originUrl} refuses a wrong ${p.headerName} (${describeProbe(p.wrongValue)}).`, 'None.')
        : findingOf(
            this,
            `probe:${p.name}`,
            false,
            `${p.originUrl} answered ${describeProbe(p.wrongValue)} to a wrong ${p.headerName}: the origin does not check the value.`,
            `Check the origin-verify rule of the origin's validators (origin-guard status); a rule matching any value is as good as none.`,
            { result: p.wrongValue },
          ),
    );
  },
};
