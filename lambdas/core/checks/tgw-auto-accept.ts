import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * The transit gateway does not auto-accept shared attachments: with auto-accept on, any account it is shared
 * with can attach a VPC and reach the gateway network without review.
 */
export const transitGatewayAutoAccept: AuditCheck = {
  id: 'tgw.auto-accept',
  title: 'Transit gateway does not auto-accept shared attachments',
  severity: 'HIGH',
  run(observed) {
    const seen = new Set<string>();
    return observed.transitGateways.flatMap((t) => {
      const tgw = t.transitGateway;
      if (!tgw || seen.has(tgw.id)) return [];
      seen.add(tgw.id);
      if (tgw.autoAcceptSharedAttachments !== 'enable') {
        return [findingOf(this, tgw.id, true, `Transit gateway ${tgw.id} does not auto-accept shared attachments.`, 'None.')];
      }
      return [
        findingOf(
          this,
          tgw.id,
          false,
          `Transit gateway ${tgw.id} auto-accepts shared attachments: any account it is shared with can attach a VPC unreviewed.`,
          `aws ec2 modify-transit-gateway --transit-gateway-id ${tgw.id} --options AutoAcceptSharedAttachments=disable`,
        ),
      ];
    });
  },
};
