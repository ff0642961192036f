import { findingOf, type AuditCheck, type ObservedDistribution } from '../audit-model.ts';

const WEAK_PROTOCOLS = ['SSLv3', 'TLSv1', 'TLSv1.1'];

/** The origins to hold to the rules: those that carry a secret, else every custom origin. */
export function auditedOrigins(d: ObservedDistribution) {
  const origins = d.distribution?.origins ?? [];
  const named = d.senders.every((s) => s.originIds) && d.senders.length > 0 ? new Set(d.senders.flatMap((s) => s.originIds!)) : undefined;
  return origins.filter((o) => (named ? named.has(o.id) : o.customOrigin !== undefined || d.senders.length > 0));
}

/**
 * CloudFront talks to the origin over HTTPS only, TLSv1.2 at least: the origin-verify header travels on that
 * hop, so a plain-HTTP or weak-TLS origin leaks the secret to anyone on the path.
 */
export const cloudFrontOriginTls: AuditCheck = {
  id: 'cloudfront.origin-tls',
  title: 'Origins use https-only with TLSv1.2',
  severity: 'HIGH',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      if (!d.distribution) return [];
      const problems: string[] = [];
      for (const origin of auditedOrigins(d)) {
        const custom = origin.customOrigin;
        // A VPC origin's protocol and TLS live in the VPC origin (GetVpcOrigin), not in the distribution.
        if (origin.vpcOriginId) continue;
        if (!custom) {
          problems.push(`${origin.id} is not a custom origin (no protocol policy to enforce HTTPS)`);
          continue;
        }
        if (custom.protocolPolicy !== 'https-only') problems.push(`${origin.id} uses ${custom.protocolPolicy}`);
        const weak = custom.sslProtocols.filter((p) => WEAK_PROTOCOLS.includes(p));
        if (weak.length) problems.push(`${origin.id} allows ${weak.join(', ')}`);
        else if (!custom.sslProtocols.includes('TLSv1.2')) problems.push(`${origin.id} does not allow TLSv1.2`);
      }
      if (problems.length === 0) {
        return [findingOf(this, d.id, true, `Distribution ${d.id} reaches its origins over https-only with TLSv1.2.`, 'None.')];
      }
      return [
        findingOf(
          this,
          d.id,
          false,
          `Distribution ${d.id} does not enforce HTTPS with TLSv1.2 to its origin: ${problems.join('; ')}.`,
          `Edit the origin(s) of ${d.id}: Protocol "HTTPS only", minimum origin SSL protocol TLSv1.2 (OriginProtocolPolicy https-only, OriginSslProtocols [TLSv1.2]).`,
          { problems },
        ),
      ];
    });
  },
};
