import { findingOf, type AuditCheck } from '../audit-model.ts';

/** Each configured web ACL exists (a deleted ACL silently removes every WAF protection). */
export const wafExists: AuditCheck = {
  id: 'waf.exists',
  title: 'Web ACL exists',
  severity: 'HIGH',
  run(observed) {
    return observed.webAcls.map((acl) =>
      acl.webAcl
        ? findingOf(this, acl.resource, true, `Web ACL ${acl.config.name} (${acl.config.scope}) exists.`, 'None.')
        : findingOf(
            this,
            acl.resource,
            false,
            `Web ACL ${acl.config.name} (${acl.config.scope}, id ${acl.config.id}) does not exist.`,
            `Recreate the web ACL from your infrastructure code, or fix audit.webAcls name/id/scope in the config (CLOUDFRONT scope lives in us-east-1).`,
          ),
    );
  },
};
