import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Each VPC peering is `active`: a deleted, rejected or expired peering cuts the private path to the gateway. */
export const peeringActive: AuditCheck = {
  id: 'peering.active',
  title: 'VPC peering is active',
  severity: 'HIGH',
  run(observed) {
    return observed.peerings.map((p) => {
      const id = p.config.id;
      if (p.state === 'active') return findingOf(this, id, true, `VPC peering ${id} is active.`, 'None.');
      return findingOf(
        this,
        id,
        false,
        p.state ? `VPC peering ${id} is ${p.state}, not active: traffic through it is dropped.` : `VPC peering ${id} does not exist.`,
        p.state === 'pending-acceptance'
          ? `Accept it in the peer account: aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id ${id}`
          : `Recreate the peering from your infrastructure code and update audit.peerings[].id and the route tables.`,
        { state: p.state ?? null },
      );
    });
  },
};
