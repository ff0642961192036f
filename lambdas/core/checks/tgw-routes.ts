import { findingOf, type AuditCheck } from '../audit-model.ts';
import { reviewRoutes } from './routes-through.ts';

/** Each listed route table sends through the transit gateway only the allowed CIDRs, nothing broader. */
export const transitGatewayRoutes: AuditCheck = {
  id: 'tgw.routes',
  title: 'Route tables route only allowed CIDRs through the transit gateway',
  severity: 'HIGH',
  run(observed) {
    return observed.transitGateways.flatMap((t) => {
      const tgwId = t.attachment?.transitGatewayId;
      if (!tgwId) return [];
      return t.routeTables.map((table) => {
        const resource = `${t.config.attachmentId}/${table.id}`;
        if (!table.routes) {
          return findingOf(this, resource, false, `Route table ${table.id} (listed for ${t.config.attachmentId}) does not exist.`, `Fix audit.transitGateways[].routeTableIds in the config.`);
        }
        const review = reviewRoutes(table.routes, (r) => r.transitGatewayId === tgwId, t.config.allowedCidrs, tgwId);
        const routed = review.through.map((r) => r.destination);
        if (review.problems.length === 0) {
          return findingOf(this, resource, true, `${table.id} routes only ${routed.join(', ')} through ${tgwId}.`, 'None.', { routed });
        }
        return findingOf(
          this,
          resource,
          false,
          `${table.id}: ${review.problems.join('; ')}.`,
          `Make ${table.id} route exactly the allowed CIDRs (${t.config.allowedCidrs.join(', ') || 'none configured'}) through ${tgwId}: ` +
            `aws ec2 delete-route / replace-route --route-table-id ${table.id} --destination-cidr-block <cidr>.`,
          { routed, allowed: t.config.allowedCidrs },
        );
      });
    });
  },
};
