import { findingOf, type AuditCheck } from '../audit-model.ts';
import { describeProbe, refused } from './probe-results.ts';

/** A request straight to the origin without the header is refused: the proof the origin enforces it. */
export const probeOriginWithoutHeader: AuditCheck = {
  id: 'probe.origin-without-header',
  title: 'Origin refuses requests without the header',
  severity: 'HIGH',
  run(observed) {
    return observed.probes.map((p) =>
      refused(p.withoutHeader)
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
