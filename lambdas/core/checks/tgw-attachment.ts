import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Each transit gateway attachment is `available`. */
export const transitGatewayAttachment: AuditCheck = {
  id: 'tgw.attachment',
  title: 'Transit gateway attachment is available',
  severity: 'HIGH',
  run(observed) {
    return observed.transitGateways.map((t) => {
      const id = t.config.attachmentId;
      const state = t.attachment?.state;
      if (state === 'available') return findingOf(this, id, true, `Transit gateway attachment ${id} is available.`, 'None.');
      return findingOf(
        this,
        id,
        false,
        state ? `Transit gateway attachment ${id} is ${state}, not available: traffic through it is dropped.` : `Transit gateway attachment ${id} does not exist.`,
        state === 'pendingAcceptance'
          ? `Accept it: aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id ${id}`
          : `Recreate the attachment from your infrastructure code and update audit.transitGateways[].attachmentId.`,
        { state: state ?? null },
      );
    });
  },
};
