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
import { createReportS3Client, S3PostureReportStore } from '../adapters/report-s3.ts';
import { buildPosture } from '../core/posture.ts';
import { renderPostureHtml } from '../core/posture-html.ts';
import { DynamoDbLeases } from '../adapters/lease-dynamodb.ts';
import { SecurityHubExporter } from '../adapters/security-hub.ts';
import { securityHubSdk } from '../adapters/on-demand-clients.ts';
import { describeError, LeaseHeldError } from '../core/errors.ts';
import { leaseOwner } from '../core/lease.ts';
import { FULL_AUDIT_EVENT_NAMES, identifiersOfApiCall, planAuditRuns, type AuditScope, type QueuedAuditEvent } from '../core/audit-scope.ts';
import { runAudit, type AuditDeps } from '../core/audit.ts';
import { configuredIdentifiers } from '../core/alerts.ts';
import { systemClock } from '../core/ports.ts';
import { METRIC_SERVICE } from '../core/metric-names.ts';
import { createMetrics, recordAuditMetrics } from '../metrics.ts';
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

const SCHEMA_OF_DETAIL_TYPE: Record<string, typeof ScheduledEventSchema | typeof CloudTrailEventSchema | typeof ServiceEventSchema> = {
  'Scheduled Event': ScheduledEventSchema,
  'AWS API Call via CloudTrail': CloudTrailEventSchema,
  'AWS Service Event via CloudTrail': ServiceEventSchema,
};

/** One account-region of the Step Functions fan-out (lib/audit-fan-out.ts); `account` '' is the hub's own. */
export const AccountRegionEventSchema = z.strictObject({
  source: z.literal('origin-guard.audit-fan-out'),
  account: z.string(),
  region: z.string().check(z.regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/)),
});

export const AuditEventSchema = z.union([ScheduledEventSchema, CloudTrailEventSchema, ServiceEventSchema, AccountRegionEventSchema]);

/** CloudTrail events batched by the audit queue (SQS, with a batching window): one audit per account and region. */
export const SqsBatchSchema = z.looseObject({
  Records: z
    .array(z.looseObject({ eventSource: z.literal('aws:sqs'), messageId: z.string(), body: z.string() }))
    .check(z.minLength(1)),
});
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
  /** `s3://bucket/key` of the posture page written after a full (scheduled) audit. */
  report?: string;
  /** Events a batched run answered (SQS): 50 CloudTrail events of one account and region are one run. */
  events?: number;
  /** Findings imported into Security Hub (audit.securityHub). */
  securityHub?: { imported: number; archived: number; failed: number };
}

/** The scope of an event: undefined (everything) for the schedule, or the resources an API call names. */
export function scopeOfEvent(event: AuditEvent): AuditScope | undefined | 'skip' {
  // A schedule tick, or a service event (a failed rotation) that names no resource to scope to: audit everything.
  if (!('detail-type' in event) || event['detail-type'] !== 'AWS API Call via CloudTrail') return undefined;
  const detail = (event as z.infer<typeof CloudTrailEventSchema>).detail;
  if (detail.errorCode) return 'skip';
  if (FULL_AUDIT_EVENT_NAMES.has(detail.eventName)) return undefined;
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
  const watchedRules = (env.ORIGIN_GUARD_WATCHED_RULES ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  return {
    observer: new AwsAuditCollector(runtime.config, { clients: runtime.clients, log: runtime.logger, watchedRules }),
    clock: systemClock,
    log: runtime.logger,
    // A full audit closes the alerts of items removed from the config (one account only: with spokes, each
    // account-region's run sees only its own findings).
    ...(isMultiAccount(runtime.config) ? {} : { resolveRemoved: { configured: configuredIdentifiers(runtime.config) } }),
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
const metrics = createMetrics(METRIC_SERVICE.audit);
let reportStore: S3PostureReportStore | undefined;

/** With accounts, one collector per account-region (each through its spoke role), bounded concurrency. */
async function runScoped(runtime: LambdaRuntime, deps: AuditDeps, scope: AuditScope | undefined, only?: { account: string; region: string }) {
  if (!isMultiAccount(runtime.config) && !only) return runAudit(deps, scope);
  return runAccountAudit(
    runtime.config,
    { hub: runtime.clients, accounts: accountClientsOf(runtime.config, runtime.clients, 'audit'), clock: deps.clock, log: deps.log, alerting: deps.alerting },
    scope,
    only,
  );
}

/** How long one audit holds its account-region lease: the function's timeout plus a margin. */
const AUDIT_LEASE_MS = 6 * 60_000;

/**
 * Runs one audit holding the account-region lease (when a state table is known), so at most one audit per
 * account and region runs at a time. Held by another run: a queued batch fails (SQS redelivers it after the
 * visibility timeout), a schedule tick is skipped (the running audit and the next tick cover it).
 */
async function auditOnce(runtime: LambdaRuntime, scope: AuditScope | undefined, key: string, queued: boolean, context?: LambdaContext, only?: { account: string; region: string }) {
  coldStartDeps ??= auditDeps(runtime);
  const tableName = process.env.ALERT_STATE_TABLE ?? runtime.config.alerts.stateTableName;
  if (!tableName) return runScoped(runtime, coldStartDeps, scope, only);
  const leases = new DynamoDbLeases(runtime.clients.dynamoDb(), tableName, leaseOwner('lambda', context?.awsRequestId ?? 'origin-guard-audit'));
  let lease;
  try {
    lease = await leases.acquire(`audit:${key}`, 'audit', AUDIT_LEASE_MS);
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error;
    if (queued) throw new Error(`another audit of ${key} is running (${error.holder.owner}); the batch goes back to the queue`);
    return undefined;
  }
  try {
    return await runScoped(runtime, coldStartDeps, scope, only);
  } finally {
    await lease.release().catch(() => undefined);
  }
}

async function exportToSecurityHub(runtime: LambdaRuntime, findings: AuditSummaryFindings, accountId: string | undefined) {
  if (!runtime.config.audit?.securityHub) return undefined;
  if (!accountId) {
    runtime.logger.warn('audit.securityHub is set but the account is unknown (no invokedFunctionArn): findings not imported');
    return undefined;
  }
  await securityHubSdk(runtime.clients);
  const exporter = new SecurityHubExporter(runtime.clients.securityHub(), { accountId, region: runtime.config.region }, runtime.logger);
  const result = await exporter.export(findings, new Date());
  return { imported: result.imported, archived: result.archived, failed: result.failed.length };
}

type AuditSummaryFindings = Awaited<ReturnType<typeof runAudit>>['findings'];

/** What the handler needs of the Lambda context: the account (for Security Hub) and a request id. */
export interface LambdaContext {
  invokedFunctionArn?: string;
  awsRequestId?: string;
}

/** Loaded at cold start; Security Hub, Elastic Load Balancing and EventBridge on use (on-demand-clients.ts). */
const AUDIT_CLIENTS = {
  CloudFrontClient,
  DynamoDBClient,
  EC2Client,
  SecretsManagerClient,
  SNSClient,
  WAFV2Client,
};

async function summarise(
  runtime: LambdaRuntime,
  trigger: string,
  scope: AuditScope | undefined,
  result: Awaited<ReturnType<typeof runAudit>> | undefined,
  accountId: string | undefined,
  events?: number,
): Promise<AuditSummary> {
  if (!result) return { trigger, findings: 0, failed: 0, failedIds: [], alerts: 0, skipped: 'another audit of this account and region is running', ...(events ? { events } : {}) };
  const failedIds = result.findings.filter((f) => f.status === 'FAIL').map((f) => f.id);
  let securityHub: AuditSummary['securityHub'];
  try {
    securityHub = await exportToSecurityHub(runtime, result.findings, accountId);
  } catch (error) {
    result.alertErrors.push(`Security Hub import failed: ${describeError(error)}`);
  }
  const summary: AuditSummary = {
    trigger,
    findings: result.findings.length,
    failed: failedIds.length,
    failedIds,
    alerts: result.alerts.length,
    ...(events ? { events } : {}),
    ...(securityHub ? { securityHub } : {}),
  };
  recordAuditMetrics(metrics, result);
  metrics.publishStoredMetrics();
  // A full audit redraws the posture page (a scoped one sees only part of the account).
  let reportError: string | undefined;
  if (scope === undefined && runtime.config.report && result.observed) {
    const model = buildPosture({ config: runtime.config, observed: result.observed, findings: result.findings, generatedAt: systemClock.now() });
    try {
      reportStore ??= new S3PostureReportStore(await createReportS3Client(runtime.config.region), runtime.config.report);
      await reportStore.put(renderPostureHtml(model));
      summary.report = `s3://${runtime.config.report.bucket}/${runtime.config.report.key}`;
    } catch (error) {
      reportError = describeError(error);
      runtime.logger.error('posture page not written', { error: reportError });
    }
  }
  runtime.logger.info('audit done', { ...summary });
  // Fail the invocation (Errors alarm, async retry): the unsent alerts' state was put back, so a retry sends them.
  if (result.alertErrors.length > 0) throw new Error(`audit alerts could not be sent: ${result.alertErrors.join('; ')}`);
  if (reportError) throw new Error(`the posture page could not be written: ${reportError}`);
  return summary;
}

/** A batch from the audit queue: every event parsed, then one audit per account and region. */
async function handleBatch(runtime: LambdaRuntime, batch: z.infer<typeof SqsBatchSchema>, context?: LambdaContext): Promise<AuditSummary> {
  const queued: QueuedAuditEvent[] = [];
  for (const record of batch.Records) {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      runtime.logger.warn('audit queue message is not JSON; dropped', { messageId: record.messageId });
      continue;
    }
    const parsed = AuditEventSchema.safeParse(body);
    if (!parsed.success) {
      runtime.logger.warn('audit queue message is not an audit event; dropped', { messageId: record.messageId, issues: parsed.error.issues.map((i) => i.path.join('.')) });
      continue;
    }
    const envelope = parsed.data as { account?: unknown; region?: unknown };
    queued.push({
      account: typeof envelope.account === 'string' ? envelope.account : 'unknown',
      // This function audits its home region's config: CloudFront and CLOUDFRONT-scope WAF events forwarded
      // from us-east-1 are about the same audit, not another region's.
      region: runtime.config.region,
      scope: scopeOfEvent(parsed.data),
    });
  }
  const runs = planAuditRuns(queued);
  if (runs.length === 0) return { trigger: 'queue', findings: 0, failed: 0, failedIds: [], alerts: 0, skipped: 'no event in the batch changed anything', events: queued.length };
  const summaries: AuditSummary[] = [];
  // One run per account (and the home region); events from another account's bus get their own run.
  for (const run of runs) {
    const trigger = run.scope === undefined ? 'all' : (run.scope.cause ?? 'queue');
    runtime.logger.appendKeys({ trigger });
    const result = await auditOnce(runtime, run.scope, `${run.account}/${run.region}`, true, context);
    summaries.push(await summarise(runtime, trigger, run.scope, result, accountOf(context), run.events));
  }
  if (summaries.length === 1) return summaries[0];
  return {
    trigger: summaries.map((s) => s.trigger).join(' | '),
    findings: summaries.reduce((n, s) => n + s.findings, 0),
    failed: summaries.reduce((n, s) => n + s.failed, 0),
    failedIds: summaries.flatMap((s) => s.failedIds),
    alerts: summaries.reduce((n, s) => n + s.alerts, 0),
    events: queued.length,
  };
}

const accountOf = (context?: LambdaContext) => context?.invokedFunctionArn?.split(':')[4];

export const handler = async (event: unknown, context?: LambdaContext): Promise<AuditSummary> => {
  const runtime = lambdaRuntime(METRIC_SERVICE.audit, AUDIT_CLIENTS);
  const batch = SqsBatchSchema.safeParse(event);
  if (batch.success) return handleBatch(runtime, batch.data, context);
  const parsed = AuditEventSchema.safeParse(event);
  if (!parsed.success) {
    // The union's own error says only "Invalid input": name the fields of the kind the event claims to be.
    const claimed = SCHEMA_OF_DETAIL_TYPE[String((event as Record<string, unknown> | null)?.['detail-type'])];
    const issues = (claimed?.safeParse(event).error ?? parsed.error).issues;
    throw new Error(`Not an EventBridge schedule or CloudTrail API call event: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const scope = scopeOfEvent(parsed.data);
  const trigger = scope === undefined ? 'all' : scope === 'skip' ? 'failed API call' : (scope.cause ?? 'event');
  if (scope === 'skip') return { trigger, findings: 0, failed: 0, failedIds: [], alerts: 0, skipped: 'the API call failed, so nothing changed' };
  runtime.logger.appendKeys({ trigger });

  // The Step Functions fan-out (with accounts) sends one account-region per invocation.
  const slice = AccountRegionEventSchema.safeParse(parsed.data);
  if (slice.success) {
    const only = { account: slice.data.account, region: slice.data.region };
    const result = await auditOnce(runtime, scope, `${only.account || 'hub'}/${only.region}`, false, context, only);
    return summarise(runtime, trigger, scope, result, accountOf(context));
  }
  const envelope = parsed.data as { account?: unknown; region?: unknown };
  const key = `${typeof envelope.account === 'string' ? envelope.account : 'unknown'}/${runtime.config.region}`;
  const result = await auditOnce(runtime, scope, key, false, context);
  return summarise(runtime, trigger, scope, result, accountOf(context));
};
