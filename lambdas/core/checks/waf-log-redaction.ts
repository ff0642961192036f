import { findingOf, type AuditCheck } from '../audit-model.ts';

/**
 * WAF logs record every request header: a web ACL that checks an origin-verify header must redact it from its
 * logs, or every allowed request writes the secret in clear to the log destination.
 */
export const wafLogRedaction: AuditCheck = {
  id: 'waf.log-redaction',
  title: 'Web ACL logs redact the origin-verify header',
  severity: 'HIGH',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      if (!acl.webAcl || !acl.loggingEnabled || acl.redactedHeaders === undefined || acl.secretHeaders.length === 0) return [];
      const exposed = acl.secretHeaders.filter((h) => !acl.redactedHeaders!.includes(h));
      if (exposed.length === 0) {
        return [findingOf(this, acl.resource, true, `${acl.config.name} redacts ${acl.secretHeaders.join(', ')} from its logs.`, 'None.')];
      }
      return [
        findingOf(
          this,
          acl.resource,
          false,
          `${acl.config.name} logs the ${exposed.join(', ')} header in clear: every allowed request writes the origin-verify secret to its log destination.`,
          `Add the header to the logging configuration's RedactedFields (aws wafv2 put-logging-configuration with RedactedFields=[{SingleHeader={Name=${exposed[0]}}}] and the existing destinations), then rotate the secret (origin-guard rotate --emergency): the logged values are exposed.`,
        ),
      ];
    });
  },
};
