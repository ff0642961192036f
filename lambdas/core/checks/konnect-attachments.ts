import { findingOf, type AuditCheck } from '../audit-model.ts';

const NEEDS_YOU = new Set(['pending-acceptance', 'pending-user-action']);

/** Each transit gateway / peering attachment of a Konnect network is `ready` (flags pending-acceptance, error, offline). */
export const konnectAttachments: AuditCheck = {
  id: 'konnect.attachment',
  title: 'Konnect network attachments are ready',
  severity: 'HIGH',
  run(observed) {
    return observed.konnectNetworks.flatMap((n) =>
      n.attachments.map((a) => {
        const resource = `konnect:${n.networkId}/${a.id}`;
        if (a.state === 'ready') return findingOf(this, resource, true, `Konnect attachment ${a.name} is ready.`, 'None.');
        return findingOf(
          this,
          resource,
          false,
          `Konnect attachment ${a.name} (${a.kind}) of network ${n.network?.name ?? n.networkId} is ${a.state}, not ready.`,
          NEEDS_YOU.has(a.state)
            ? `Accept the attachment on the AWS side (transit gateway attachment or peering request from Konnect's account).`
            : `Check the attachment in Konnect (Gateway Manager > Networks) and the AWS side (transit gateway, RAM share, peering).`,
          { state: a.state },
        );
      }),
    );
  },
};
