/**
 * The range reconciler Lambda: on its EventBridge schedule it reconciles every target; on an
 * `AmazonIpSpaceChanged` SNS notification it reconciles the targets with an AWS source, for that version.
 * Thin: parse the event, call the core. Source failures are alerted and returned, not thrown (the next run
 * retries); only an event of an unknown shape throws, so that it lands in the DLQ. With ALERT_STATE_TABLE (else
 * `alerts.stateTableName`) a failure alerts once and its end once, as the audit's findings do; without it, on
 * every run.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import '../zod-english.ts';
import * as z from 'zod/mini';
import type { IpRangesConfig } from '../config.ts';
import { DynamoDbAlertState } from '../adapters/alert-state-dynamodb.ts';
import { accountClientsOf, type AccountClients } from '../adapters/account-clients.ts';
import { PlacedSecurityGroupStore } from '../adapters/placed-security-groups.ts';
import { HttpIpFeeds } from '../adapters/ip-feeds.ts';
import { DynamoDbLeases } from '../adapters/lease-dynamodb.ts';
import { leaseOwner } from '../core/lease.ts';
import { compareSyncTokens, parseIpSpaceChangedMessage, type IpSpaceChangedNotice } from '../core/ip-sources.ts';
import { failureFinding } from '../core/alerts.ts';
import { describeError } from '../core/errors.ts';
import { systemClock, type AlertPort, type LogPort } from '../core/ports.ts';
import { reconcile, type ReconcileDeps, type ReconcileResult } from '../core/reconcile.ts';
import { METRIC_SERVICE } from '../core/metric-names.ts';
import { createMetrics, recordReconcileMetrics, type MetricsSink } from '../metrics.ts';
import { lambdaRuntime, type LambdaRuntime } from '../runtime.ts';

export const ScheduledEventSchema = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
});

export const SnsEventSchema = z.looseObject({
  Records: z
    .array(
      z.looseObject({
        EventSource: z.literal('aws:sns'),
        Sns: z.looseObject({ Message: z.string().check(z.minLength(1)), TopicArn: z.optional(z.string()) }),
      }),
    )
    .check(z.minLength(1), z.maxLength(100)),
});

export const ReconcileEventSchema = z.union([ScheduledEventSchema, SnsEventSchema]);
export type ReconcileEvent = z.infer<typeof ReconcileEventSchema>;

export interface ReconcileHandlerDeps extends ReconcileDeps {
  /** `ipRanges` of the embedded config; the handler does nothing when it is absent. */
  ipRanges: IpRangesConfig | undefined;
  /** Powertools Metrics (rules added / removed, targets held or failed), flushed once per invocation. */
  metrics?: MetricsSink & { publishStoredMetrics(): void };
}

/** The newest version among the notifications of one event (SNS may batch or repeat them). */
export function noticeOfEvent(event: ReconcileEvent): IpSpaceChangedNotice | undefined {
  const sns = SnsEventSchema.safeParse(event);
  if (!sns.success) return undefined;
  let newest: IpSpaceChangedNotice | undefined;
  for (const record of sns.data.Records) {
    const notice = parseIpSpaceChangedMessage(record.Sns.Message);
    if (!newest || compareSyncTokens(notice.syncToken, newest.syncToken) > 0) newest = notice;
  }
  return newest;
}

/** The handler with its collaborators given (tests) or built on first use (`handler`). */
export function createReconcileHandler(deps: ReconcileHandlerDeps | (() => ReconcileHandlerDeps)) {
  return async (event: unknown): Promise<ReconcileResult> => {
    const parsed = ReconcileEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new Error(
        `Not a scheduled event or an SNS notification: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      );
    }
    const d = typeof deps === 'function' ? deps() : deps;
    if (!d.ipRanges) {
      d.log.warn('no ipRanges in the configuration: nothing to reconcile');
      return { targets: [] };
    }
    let notice: IpSpaceChangedNotice | undefined;
    try {
      notice = noticeOfEvent(parsed.data);
    } catch (error) {
      // Retrying cannot fix a malformed notification: alert once, change nothing; the schedule still runs.
      const message = describeError(error);
      d.log.error('malformed AmazonIpSpaceChanged notification', { error: message });
      await d.alerts
        .publish({
          kind: 'FAILURE',
          finding: failureFinding({
            checkId: 'reconcile.source-failed',
            resource: 'AmazonIpSpaceChanged',
            message: `an AmazonIpSpaceChanged notification could not be read: ${message}; nothing was changed`,
            remediation: 'Check the SNS subscription (raw message delivery must be off); the scheduled run keeps the groups current.',
          }),
        })
        .catch((e) => d.log.error('could not publish an alert', { error: describeError(e) }));
      return { targets: [] };
    }
    const result = await reconcile(d.ipRanges, { notice }, d);
    for (const t of result.targets) {
      const summary = { target: t.name, status: t.status, syncToken: t.syncToken, writes: t.writes, held: t.held };
      if (t.error) d.log.error('target not reconciled', { ...summary, error: t.error });
      else d.log.info('target reconciled', summary);
    }
    if (d.metrics) {
      recordReconcileMetrics(d.metrics, result);
      d.metrics.publishStoredMetrics();
    }
    // Not thrown: the state of an unsent alert was put back, and the next scheduled run sends it.
    for (const error of result.alertErrors ?? []) d.log.error('alert not sent', { error });
    return result;
  };
}

/** Without a topic, alerts still reach the log (and the log's metric filters). */
function logAlerts(log: LogPort): AlertPort {
  return { publish: async (event) => log.error('alert', { kind: event.kind, finding: event.finding }) };
}

/** The reconciler's collaborators from the cold-start runtime; alert state only when a topic and a table are known. */
export function reconcileDeps(
  runtime: LambdaRuntime,
  env: NodeJS.ProcessEnv = process.env,
  accounts: AccountClients = accountClientsOf(runtime.config, runtime.clients, 'reconcile'),
): ReconcileHandlerDeps {
  const { clients, logger, config } = runtime;
  const tableName = env.ALERT_STATE_TABLE ?? config.alerts.stateTableName;
  const alerts = runtime.alerts ?? logAlerts(logger);
  if (runtime.alerts && !tableName) logger.warn('ALERT_STATE_TABLE is not set: reconcile failures alert on every run');
  return {
    ipRanges: config.ipRanges,
    feeds: new HttpIpFeeds({ secretsManager: clients.secretsManager() }),
    groups: new PlacedSecurityGroupStore(clients, accounts, { log: logger }),
    alerts,
    // The reconcile lease per target shares the alert-state table: the CLI and this Lambda never write one target at once.
    ...(tableName ? { leases: new DynamoDbLeases(clients.dynamoDb(), tableName, leaseOwner('lambda', 'origin-guard-reconcile')) } : {}),
    ...(runtime.alerts && tableName
      ? { alerting: { publisher: runtime.alerts, state: new DynamoDbAlertState(clients.dynamoDb(), tableName), reminderHours: config.alerts.reminderHours } }
      : {}),
    clock: systemClock,
    log: logger,
    metrics: createMetrics(METRIC_SERVICE.reconcile),
  };
}

let lambdaDeps: ReconcileHandlerDeps | undefined;

export const handler = createReconcileHandler(() => {
  // Every client it uses is bundled (see HANDLER_SDK_CLIENTS): cold init over bundle size.
  lambdaDeps ??= reconcileDeps(lambdaRuntime(METRIC_SERVICE.reconcile, { DynamoDBClient, EC2Client, SecretsManagerClient, SNSClient }));
  return lambdaDeps;
});
