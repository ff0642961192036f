import { findingOf, inconclusiveOf, type AuditCheck } from '../audit-model.ts';
import { answered, describeProbe, refused } from './probe-results.ts';

/** A request straight to the origin with a wrong header value is refused. */
export const probeOriginWrongValue: AuditCheck = {
  id: 'probe.origin-wrong-value',
  title: 'Origin refuses requests with a wrong header value',
  severity: 'HIGH',
  run(observed) {
    return observed.probes.map((p) =>
      !answered(p.wrongValue)
        ? inconclusiveOf(
            this,
            `probe:${p.name}`,
            `${p.originUrl} gave ${describeProbe(p.wrongValue)} to a wrong ${p.headerName}: a timeout or DNS failure proves nothing about the header check.`,
            `Run the probe from where the origin is reachable (audit.probes[].originUrl), or check that the origin is up.`,
            { result: p.wrongValue },
          )
        : refused(p.wrongValue, p.expectedStatus)
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
