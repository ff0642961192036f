import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * The attachment is associated with, and propagates to, only the transit gateway route tables the config allows:
 * another association or propagation (ReplaceTransitGatewayRouteTableAssociation, EnableTransitGatewayRouteTable-
 * Propagation) connects the gateway's VPC with VPCs nobody reviewed.
 */
export const transitGatewayRouteTables: AuditCheck = {
  id: 'tgw.route-tables',
  title: 'Attachment associated and propagated only to the allowed TGW route tables',
  severity: 'HIGH',
  run(observed) {
    return observed.transitGateways.flatMap((t) => {
      const allowed = t.config.transitGatewayRouteTableIds;
      if (!allowed || !t.attachment || !t.tgwRouteTables) return [];
      const id = t.config.attachmentId;
      const associated = t.tgwRouteTables.associatedWith.filter((r) => !allowed.includes(r));
      const propagated = t.tgwRouteTables.propagatesTo.filter((r) => !allowed.includes(r));
      if (associated.length === 0 && propagated.length === 0) {
        return [findingOf(this, id, true, `Attachment ${id} is associated and propagates only within ${allowed.join(', ') || 'no route table'}.`, 'None.')];
      }
      const problems = [
        ...(associated.length ? [`associated with ${associated.join(', ')}`] : []),
        ...(propagated.length ? [`propagates to ${propagated.join(', ')}`] : []),
      ];
      return [
        findingOf(
          this,
          id,
          false,
          `Attachment ${id} reaches transit gateway route tables outside the allowed ones: ${problems.join('; ')}.`,
          [
            ...propagated.map((r) => `aws ec2 disable-transit-gateway-route-table-propagation --transit-gateway-route-table-id ${r} --transit-gateway-attachment-id ${id}`),
            ...associated.map((r) => `aws ec2 disassociate-transit-gateway-route-table --transit-gateway-route-table-id ${r} --transit-gateway-attachment-id ${id}`),
          ].join('; '),
          { associated, propagated },
        ),
      ];
    });
  },
};
