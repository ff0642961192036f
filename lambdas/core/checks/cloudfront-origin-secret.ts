import { findingOf, type AuditCheck } from '../audit-model.ts';
import { auditedOrigins } from './cloudfront-origin-tls.ts';
import { describeFingerprints, rotationExpectations } from './rotation-expectations.ts';

/**
 * Each origin that should carry a secret sends the current value (compared by fingerprint), or the pending
 * one while a rotation is switching senders. A stale value stops working at the next retire; a missing
 * header is refused now.
 */
export const cloudFrontOriginSecret: AuditCheck = {
  id: 'cloudfront.origin-secret',
  title: 'Distribution sends the current secret',
  severity: 'HIGH',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      if (!d.distribution) return [];
      return d.senders.flatMap((sender) => {
        const secret = observed.secrets.find((s) => s.name === sender.secret);
        const expected = secret && rotationExpectations(secret);
        if (!expected) return [];
        const resource = `${d.id}/${sender.secret}`;
        const header = sender.headerName.toLowerCase();
        const origins = sender.originIds ? d.distribution!.origins.filter((o) => sender.originIds!.includes(o.id)) : d.distribution!.origins;
        const missingOrigins = (sender.originIds ?? []).filter((id) => !d.distribution!.origins.some((o) => o.id === id));
        const problems = missingOrigins.map((id) => `origin ${id} does not exist`);
        const sent: Record<string, string | null> = {};
        for (const origin of origins) {
          const value = origin.headerFingerprints[header];
          sent[origin.id] = value ?? null;
          if (value === undefined) problems.push(`origin ${origin.id} sends no ${sender.headerName}`);
          else if (!expected.sendable.includes(value)) problems.push(`origin ${origin.id} sends ${describeFingerprints([value], expected)}`);
        }
        if (problems.length === 0) {
          return [
            findingOf(this, resource, true, `Distribution ${d.id} sends the current ${sender.headerName} (fingerprint ${expected.current}).`, 'None.', { sent }),
          ];
        }
        return [
          findingOf(
            this,
            resource,
            false,
            `Distribution ${d.id} does not send the current ${sender.headerName} of "${sender.secret}" (fingerprint ${expected.current}): ${problems.join('; ')}.`,
            `Run origin-guard rotate --secret ${sender.secret} to make every sender send the current value again; check who edited the distribution's origin headers.`,
            { sent, expected: expected.sendable },
          ),
        ];
      });
    });
  },
};
