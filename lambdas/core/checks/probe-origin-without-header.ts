import { findingOf, inconclusiveOf, type AuditCheck } from '../audit-model.ts';
import { answered, describeProbe, refused } from './probe-results.ts';

/** A request straight to the origin without the header is refused: the proof the origin enforces it. */
export const probeOriginWithoutHeader: AuditCheck = {
  id: 'probe.origin-without-header',
  title: 'Origin refuses requests without the header',
  severity: 'HIGH',
  run(observed) {
    return observed.probes.map((p) =>
      !answered(p.withoutHeader)
        ? inconclusiveOf(
            this,
            `probe:${p.name}`,
            `${p.originUrl} gave ${describeProbe(p.withoutHeader)} to a request without ${p.headerName}: a timeout or DNS failure proves nothing about the header check.`,
            `Run the probe from where the origin is reachable (audit.probes[].originUrl), or check that the origin is up.`,
            { result: p.withoutHeader },
          )
        : refused(p.withoutHeader, p.expectedStatus)
        ? findingOf(this, `probe:${p.name}`, true, `${p.originUrl} refuses a request without ${p.headerName} (${describeProbe(p.withoutHeader)}).`, 'None.')
        : findingOf(
            this,
            `probe:${p.name}`,
            false,
            `${p.originUrl} answered ${describeProbe(p.withoutHeader)} to a request without ${p.headerName}: the origin can be reached around the CDN.`,
            `Make the origin's validators block requests without ${p.headerName} (the WAF origin-verify rule, Kong route), and restrict its security groups to the CDN ranges (origin-guard reconcile).`,
            { result: p.withoutHeader },
          ),
    );
  },
};
