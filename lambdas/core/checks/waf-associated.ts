import { findingOf, shortName, SWAPPED_WEB_ACL, type AuditCheck } from '../audit-model.ts';

/** Each listed resource (load balancer, API, distribution) is protected by the configured web ACL. */
export const wafAssociated: AuditCheck = {
  id: 'waf.associated',
  title: 'Web ACL associated with each listed resource',
  severity: 'HIGH',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      const webAcl = acl.webAcl;
      if (!webAcl) return [];
      return acl.associations.map(({ resourceArn, webAclArn }) => {
        const name = acl.config.name;
        if (webAclArn === webAcl.arn) {
          return findingOf(this, resourceArn, true, `${name} is associated with ${shortName(resourceArn)}.`, 'None.');
        }
        const fix = resourceArn.startsWith('arn:aws:cloudfront:')
          ? `Set the distribution's web ACL back to ${name} (CloudFront console, or UpdateDistribution with WebACLId ${webAcl.arn}).`
          : `aws wafv2 associate-web-acl --web-acl-arn ${webAcl.arn} --resource-arn ${resourceArn}`;
        const message =
          webAclArn === SWAPPED_WEB_ACL
            ? `${name} is not on ${shortName(resourceArn)}: another web ACL, one origin-guard may not read, was put there instead (GetWebACLForResource denied).`
            : webAclArn
          ? `${name} is not on ${shortName(resourceArn)}: web ACL ${shortName(webAclArn)} is associated instead.`
          : `${name} is not associated with ${shortName(resourceArn)}: it has no web ACL at all.`;
        return findingOf(this, resourceArn, false, message, fix, { webAcl: webAcl.arn, associated: webAclArn ?? null });
      });
    });
  },
};
