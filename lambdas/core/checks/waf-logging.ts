import { findingOf, type AuditCheck } from '../audit-model.ts';

/** WAF logging is on when required: without it a blocked attack or a broken rule leaves no trace. */
export const wafLogging: AuditCheck = {
  id: 'waf.logging',
  title: 'Web ACL logging enabled',
  severity: 'MEDIUM',
  run(observed) {
    return observed.webAcls.flatMap((acl) => {
      if (!acl.webAcl || !acl.config.requireLogging || acl.loggingEnabled === undefined) return [];
      return [
        acl.loggingEnabled
          ? findingOf(this, acl.resource, true, `${acl.config.name} has logging enabled.`, 'None.')
          : findingOf(
              this,
              acl.resource,
              false,
              `${acl.config.name} has no logging configuration: requests it blocks or allows are not recorded.`,
              `aws wafv2 put-logging-configuration --logging-configuration ResourceArn=${acl.webAcl.arn},LogDestinationConfigs=<aws-waf-logs-... log group, stream or bucket ARN>`,
            ),
      ];
    });
  },
};
