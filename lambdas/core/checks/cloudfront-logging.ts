import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Listed distributions keep access logs: without them a bypass or an abuse through the edge leaves no trace. */
export const cloudFrontLogging: AuditCheck = {
  id: 'cloudfront.logging',
  title: 'Distribution access logging enabled',
  severity: 'MEDIUM',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      const settings = d.distribution?.settings;
      if (!d.listed || !settings) return [];
      if (settings.loggingEnabled) return [findingOf(this, d.id, true, `Distribution ${d.id} writes access logs.`, 'None.')];
      return [
        findingOf(
          this,
          d.id,
          false,
          `Distribution ${d.id} writes no access logs (standard logging is off).`,
          `Enable standard logging on ${d.id} (DistributionConfig.Logging: Enabled true, Bucket, Prefix) from your infrastructure code.`,
        ),
      ];
    });
  },
};
