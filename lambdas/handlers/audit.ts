/**
 * The audit Lambda: on its EventBridge schedule it audits everything configured; on a CloudTrail API call
 * (through EventBridge) it audits only the resources that call names, so drift is seen within a minute.
 * Alerts go to ALERT_TOPIC_ARN, their state to ALERT_STATE_TABLE (else `alerts.topicArn` / `stateTableName`).
 */
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import '../zod-english.ts';
import * as z from 'zod/mini';
import { DynamoDbAlertState } from '../adapters/alert-state-dynamodb.ts';
import { AwsAuditCollector } from '../adapters/audit-collector.ts';
import { accountClientsOf } from '../adapters/account-clients.ts';
import { runAccountAudit } from '../adapters/account-audit.ts';
import { isMultiAccount } from '../accounts.ts';
import { identifiersOfApiCall, type AuditScope } from '../core/audit-scope.ts';
import { runAudit, type AuditDeps } from '../core/audit.ts';
import { systemClock } from '../core/ports.ts';
import { lambdaRuntime, type LambdaRuntime } from '../runtime.ts';

export { AUDIT_TRIGGER_EVENT_NAMES, AUDIT_TRIGGER_EVENTS, AUDIT_TRIGGER_EVENT_SOURCES } from '../core/audit-scope.ts';

export const ScheduledEventSchema = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
});

export const CloudTrailEventSchema = z.looseObject({
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  source: z.string().check(z.startsWith('aws.')),
  detail: z.looseObject({
    eventSource: z.string().check(z.minLength(1)),
    eventName: z.string().check(z.minLength(1)),
    /** Present when the call failed: nothing changed, nothing to audit. */
    errorCode: z.optional(z.string()),
    requestParameters: z.optional(z.unknown()),
    responseElements: z.optional(z.unknown()),
  }),
});

/** Secrets Manager's RotationFailed / RotationAbandoned / TestRotationFailed, routed here by the stack. */
export const ServiceEventSchema = z.looseObject({
  'detail-type': z.literal('AWS Service Event via CloudTrail'),
  source: z.string().check(z.startsWith('aws.')),
});

/** One account-region of the Step Functions fan-out (lib/audit-fan-out.ts); `account` '' is the hub's own. */
export const AccountRegionEventSchema = z.strictObject({
  source: z.literal('origin-guard.audit-fan-out'),
  account: z.string(),
  region: z.string().check(z.regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/)),
});

export const AuditEventSchema = z.union([ScheduledEventSchema, CloudTrailEventSchema, ServiceEventSchema, AccountRegionEventSchema]);
export type AuditEvent = z.infer<typeof AuditEventSchema>;

export interface AuditSummary {
  /** `all` for a scheduled run, else the API call that triggered it. */
  trigger: string;
  findings: number;
  failed: number;
  /** Ids of the failing findings, failed first and most severe first. */
  failedIds: string[];
  alerts: number;
  /** Set when the API call failed or named nothing configured. */
  skipped?: string;
}

/** The scope of an event: undefined (everything) for the schedule, or the resources an API call names. */
export function scopeOfEvent(event: AuditEvent): AuditScope | undefined | 'skip' {
  // A schedule tick, or a service event (a failed rotation) that names no resource to scope to: audit everything.
  if (!('detail-type' in event) || event['detail-type'] !== 'AWS API Call via CloudTrail') return undefined;
  const detail = (event as z.infer<typeof CloudTrailEventSchema>).detail;
  if (detail.errorCode) return 'skip';
  const identifiers = identifiersOfApiCall(detail.eventSource, detail.requestParameters, detail.responseElements);
  // A call whose resources cannot be told apart (an unexpected shape) is audited in full rather than missed.
  if (identifiers.length === 0) return undefined;
  return { identifiers, cause: `${detail.eventSource}:${detail.eventName}` };
}

/** The audit's collaborators from the cold-start runtime; alerting only when a topic and a table are known. */
export function auditDeps(runtime: LambdaRuntime, env: NodeJS.ProcessEnv = process.env): AuditDeps {
  const tableName = env.ALERT_STATE_TABLE ?? runtime.config.alerts.stateTableName;
  if (!runtime.alerts || !tableName) {
    runtime.logger.warn('audit runs without alerts: ALERT_TOPIC_ARN or ALERT_STATE_TABLE is not set');
  }
  return {
    observer: new AwsAuditCollector(runtime.config, { clients: runtime.clients, log: runtime.logger }),
    clock: systemClock,
    log: runtime.logger,
    ...(runtime.alerts && tableName
      ? {
          alerting: {
            publisher: runtime.alerts,
            state: new DynamoDbAlertState(runtime.clients.dynamoDb(), tableName),
            reminderHours: runtime.config.alerts.reminderHours,
          },
        }
      : {}),
  };
}

/** Built once per cold start, like the clients it holds. */
let coldStartDeps: AuditDeps | undefined;

export const handler = async (event: unknown): Promise<AuditSummary> => {
  const runtime = lambdaRuntime('origin-guard-audit', { CloudFrontClient, DynamoDBClient, EC2Client, SecretsManagerClient, SNSClient, WAFV2Client });
  const parsed = AuditEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new Error(
      `Not an EventBridge schedule or CloudTrail API call event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  const scope = scopeOfEvent(parsed.data);
  const trigger = scope === undefined ? 'all' : scope === 'skip' ? 'failed API call' : (scope.cause ?? 'event');
  if (scope === 'skip') return { trigger, findings: 0, failed: 0, failedIds: [], alerts: 0, skipped: 'the API call failed, so nothing changed' };
  runtime.logger.appendKeys({ trigger });

  coldStartDeps ??= auditDeps(runtime);
  // With accounts, one collector per account-region (each through its spoke role), bounded concurrency; the
  // Step Functions fan-out sends one account-region per invocation.
  const slice = AccountRegionEventSchema.safeParse(parsed.data);
  const result =
    isMultiAccount(runtime.config) || slice.success
      ? await runAccountAudit(
          runtime.config,
          { hub: runtime.clients, accounts: accountClientsOf(runtime.config, runtime.clients, 'audit'), clock: coldStartDeps.clock, log: coldStartDeps.log, alerting: coldStartDeps.alerting },
          scope,
          slice.success ? { account: slice.data.account, region: slice.data.region } : undefined,
        )
      : await runAudit(coldStartDeps, scope);
  const failedIds = result.findings.filter((f) => f.status === 'FAIL').map((f) => f.id);
  const summary: AuditSummary = { trigger, findings: result.findings.length, failed: failedIds.length, failedIds, alerts: result.alerts.length };
  runtime.logger.info('audit done', { ...summary });
  // Fail the invocation (Errors alarm, async retry): the unsent alerts' state was put back, so a retry sends them.
  if (result.alertErrors.length > 0) throw new Error(`audit alerts could not be sent: ${result.alertErrors.join('; ')}`);
  return summary;
};
