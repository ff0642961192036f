import { findingOf, shortName, type AuditCheck } from '../audit-model.ts';

/** Each listed distribution is protected by its expected web ACL (or by one at all, when none is named). */
export const cloudFrontWebAcl: AuditCheck = {
  id: 'cloudfront.web-acl',
  title: 'Distribution has its expected web ACL',
  severity: 'HIGH',
  run(observed) {
    return observed.distributions
      .filter((d) => d.listed)
      .map((d) => {
        if (!d.distribution) {
          return findingOf(
            this,
            d.id,
            false,
            `CloudFront distribution ${d.id} does not exist.`,
            'Fix audit.distributions (and any cloudfront sender) in the config, or recreate the distribution.',
          );
        }
        const attached = d.distribution.webAclId;
        const attachedName = attached ? shortName(attached) : undefined;
        const expected = d.expectedWebAclName;
        const pass = expected ? attachedName === expected : Boolean(attached);
        if (pass) return findingOf(this, d.id, true, `Distribution ${d.id} is protected by web ACL ${attachedName}.`, 'None.');
        const message = attached
          ? `Distribution ${d.id} has web ACL ${attachedName} instead of ${expected}.`
          : `Distribution ${d.id} has no web ACL${expected ? ` (expected ${expected})` : ''}: requests reach the origin unfiltered.`;
        return findingOf(
          this,
          d.id,
          false,
          message,
          `Attach ${expected ?? 'a CLOUDFRONT-scope web ACL'} to distribution ${d.id} (console: Security > Edit, or UpdateDistribution with WebACLId set to the web ACL's ARN).`,
          { attached: attached || null, expected: expected ?? null },
        );
      });
  },
};
