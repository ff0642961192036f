import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * S3 origins are read through an origin access control: without one the bucket must be public for CloudFront
 * to read it, and anyone can read it around the CDN and its WAF.
 */
export const cloudFrontS3Oac: AuditCheck = {
  id: 'cloudfront.s3-oac',
  title: 'S3 origins use origin access control',
  severity: 'MEDIUM',
  run(observed) {
    return observed.distributions.flatMap((d) => {
      const settings = d.distribution?.settings;
      if (!d.listed || !settings || settings.s3Origins.length === 0) return [];
      const open = settings.s3Origins.filter((o) => !o.originAccessControlId);
      if (open.length === 0) {
        return [findingOf(this, d.id, true, `Every S3 origin of ${d.id} is read through an origin access control.`, 'None.')];
      }
      const legacy = open.filter((o) => o.originAccessIdentity).map((o) => o.id);
      return [
        findingOf(
          this,
          d.id,
          false,
          `Distribution ${d.id} reads S3 origins without an origin access control: ${open.map((o) => `${o.id}${o.originAccessIdentity ? ' (legacy OAI)' : ' (bucket must be public)'}`).join(', ')}.`,
          `Create an origin access control (aws cloudfront create-origin-access-control), set it on the origin(s), and limit the bucket policy to cloudfront.amazonaws.com with AWS:SourceArn of ${d.id}.`,
          { origins: open.map((o) => o.id), legacyOai: legacy },
        ),
      ];
    });
  },
};
