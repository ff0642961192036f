import { findingOf, type AuditCheck } from '../audit-model.ts';

/** No cache behaviour serves viewers over plain HTTP (`allow-all`). */
export const cloudFrontViewerProtocol: AuditCheck = {
  id: 'cloudfront.viewer-protocol',
  title: 'Viewer protocol policy is not allow-all',
  severity: 'MEDIUM',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      if (!d.listed || !d.distribution) return [];
      const plain = d.distribution.behaviors.filter((b) => b.viewerProtocolPolicy === 'allow-all').map((b) => b.pathPattern);
      if (plain.length === 0) {
        return [findingOf(this, d.id, true, `Distribution ${d.id} serves viewers over HTTPS only (redirect or https-only).`, 'None.')];
      }
      return [
        findingOf(
          this,
          d.id,
          false,
          `Distribution ${d.id} serves plain HTTP to viewers (allow-all) on ${plain.join(', ')}.`,
          `Set the viewer protocol policy of those behaviours of ${d.id} to "redirect-to-https" or "https-only".`,
          { behaviors: plain },
        ),
      ];
    });
  },
};
