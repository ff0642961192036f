import { findingOf, type AuditCheck } from '../audit-model.ts';
import { reviewRoutes } from './routes-through.ts';

/**
 * Each listed route table sends through the peering only the allowed CIDRs, nothing broader: a broad route
 * (worst: 0.0.0.0/0) sends traffic meant for elsewhere to the peer, or exposes more of the peer than intended.
 */
export const peeringRoutes: AuditCheck = {
  id: 'peering.routes',
  title: 'Route tables route only allowed CIDRs through the peering',
  severity: 'HIGH',
  run(observed) {
    return observed.peerings.flatMap((p) =>
      p.routeTables.map((table) => {
        const resource = `${p.config.id}/${table.id}`;
        if (!table.routes) {
          return findingOf(this, resource, false, `Route table ${table.id} (listed for ${p.config.id}) does not exist.`, `Fix audit.peerings[].routeTableIds in the config.`);
        }
        const review = reviewRoutes(table.routes, (r) => r.vpcPeeringConnectionId === p.config.id, p.config.allowedCidrs, p.config.id);
        const routed = review.through.map((r) => r.destination);
        if (review.problems.length === 0) {
          return findingOf(this, resource, true, `${table.id} routes only ${routed.join(', ')} through ${p.config.id}.`, 'None.', { routed });
        }
        return findingOf(
          this,
          resource,
          false,
          `${table.id}: ${review.problems.join('; ')}.`,
          `Make ${table.id} route exactly the allowed CIDRs (${p.config.allowedCidrs.join(', ') || 'none configured'}) through ${p.config.id}: ` +
            `aws ec2 delete-route / replace-route --route-table-id ${table.id} --destination-cidr-block <cidr>.`,
          { routed, allowed: p.config.allowedCidrs },
        );
      }),
    );
  },
};
