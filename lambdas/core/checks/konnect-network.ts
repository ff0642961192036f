import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Each Konnect Cloud Gateway network is `ready`. */
export const konnectNetwork: AuditCheck = {
  id: 'konnect.network',
  title: 'Konnect network is ready',
  severity: 'HIGH',
  run(observed) {
    return observed.konnectNetworks.map((n) => {
      const resource = `konnect:${n.networkId}`;
      if (n.network?.state === 'ready') return findingOf(this, resource, true, `Konnect network ${n.network.name} is ready.`, 'None.');
      return findingOf(
        this,
        resource,
        false,
        n.network ? `Konnect network ${n.network.name} is ${n.network.state}, not ready.` : `Konnect network ${n.networkId} does not exist.`,
        n.network ? `Check the network in Konnect (Gateway Manager > Networks) and its provider status.` : `Fix audit.konnect.networkIds in the config.`,
        { state: n.network?.state ?? null },
      );
    });
  },
};
