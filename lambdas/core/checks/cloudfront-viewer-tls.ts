import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Security policies that still accept TLS 1.0 / 1.1 (or SSLv3) from viewers. */
export const WEAK_VIEWER_POLICIES = ['SSLv3', 'TLSv1', 'TLSv1_2016', 'TLSv1.1_2016'];

/** A distribution with its own certificate requires TLS 1.2 or later from viewers. */
export const cloudFrontViewerTls: AuditCheck = {
  id: 'cloudfront.viewer-tls',
  title: 'Viewer TLS policy is TLSv1.2 or later',
  severity: 'MEDIUM',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      const settings = d.distribution?.settings;
      if (!d.listed || !settings) return [];
      const policy = settings.minimumViewerTlsVersion;
      if (settings.usesDefaultCertificate) {
        return [
          findingOf(this, d.id, true, `Distribution ${d.id} uses the *.cloudfront.net certificate, whose TLS policy AWS sets; nothing to configure.`, 'None.'),
        ];
      }
      if (policy && !WEAK_VIEWER_POLICIES.includes(policy)) {
        return [findingOf(this, d.id, true, `Distribution ${d.id} requires ${policy} from viewers.`, 'None.')];
      }
      return [
        findingOf(
          this,
          d.id,
          false,
          `Distribution ${d.id} accepts viewers on an outdated TLS policy (${policy ?? 'none set'}).`,
          `Set ViewerCertificate.MinimumProtocolVersion of ${d.id} to TLSv1.2_2021 or later.`,
          { minimumProtocolVersion: policy ?? null },
        ),
      ];
    });
  },
};
