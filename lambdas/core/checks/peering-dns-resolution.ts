import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * Private DNS resolution across a peering stays off: with it the peer resolves the origin's public names to
 * private addresses, a path to the origin that neither the CDN nor its WAF sees.
 */
export const peeringDnsResolution: AuditCheck = {
  id: 'peering.dns-resolution',
  title: 'VPC peering does not resolve private DNS across',
  severity: 'MEDIUM',
  run(observed) {
    return observed.peerings.flatMap((p) => {
      const dns = p.dnsResolution;
      if (!p.state || !dns) return [];
      const sides = [...(dns.requester ? ['requester'] : []), ...(dns.accepter ? ['accepter'] : [])];
      if (sides.length === 0) return [findingOf(this, p.config.id, true, `VPC peering ${p.config.id} resolves no private DNS names across.`, 'None.')];
      return [
        findingOf(
          this,
          p.config.id,
          false,
          `VPC peering ${p.config.id} resolves the other VPC's private DNS names (AllowDnsResolutionFromRemoteVpc on the ${sides.join(' and ')} side).`,
          `aws ec2 modify-vpc-peering-connection-options --vpc-peering-connection-id ${p.config.id} --${sides[0]}-peering-connection-options AllowDnsResolutionFromRemoteVpc=false`,
          { sides },
        ),
      ];
    });
  },
};
