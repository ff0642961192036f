import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { throwIfProblems } from './errors.ts';
import type { OriginGuardFunction } from './function.ts';
import { METRIC, METRICS_NAMESPACE, METRIC_SERVICE } from '../lambdas/core/metric-names.ts';

/** Namespace of the metrics origin-guard derives from its own logs, and its handlers emit (Powertools EMF). */
export const METRIC_NAMESPACE = METRICS_NAMESPACE;

/** Secrets Manager's CloudTrail service events for a rotation that did not complete. */
export const ROTATION_FAILURE_EVENTS = ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'];

export interface MonitoredFunction {
  /** Short name used in alarm descriptions and on the dashboard, e.g. `rotation`. */
  readonly name: string;
  readonly fn: OriginGuardFunction;
}

export interface MonitoringProps {
  /** Every alarm notifies this topic, when it fires and when it recovers. */
  readonly alertTopic: sns.ITopic;
  /** Functions whose errors, throttles and dead-letter queue depth are alarmed. */
  readonly functions: MonitoredFunction[];
  /**
   * The functions that rotate and retire secrets: an ERROR log line from either counts as a rotation that
   * did not complete, and Secrets Manager's rotation-failure events are alarmed. @default none
   */
  readonly rotationFunctions?: OriginGuardFunction[];
  /**
   * Where Secrets Manager's rotation-failure events also go (the audit function, which re-checks the secrets
   * at once). A target also guarantees the rule's `TriggeredRules` metric that the alarm watches.
   * @default none
   */
  readonly rotationFailureTarget?: events.IRuleTarget;
  /** @default `origin-guard-<stack name>` */
  readonly dashboardName?: string;
}

/**
 * CloudWatch alarms and a dashboard for origin-guard itself, all alarms notifying the alerts topic.
 *
 * Per function: `Errors` ≥ 1 and `Throttles` ≥ 1 over 5 minutes, and its dead-letter queue's
 * `ApproximateNumberOfMessagesVisible` ≥ 1 (an event that was never processed).
 *
 * A rotation that has not completed is caught two ways, neither depending on handler internals beyond the
 * Powertools log format:
 * - `RotationFailures`: an EventBridge rule on Secrets Manager's CloudTrail service events `RotationFailed`,
 *   `RotationAbandoned` and `TestRotationFailed` (detail-type `AWS Service Event via CloudTrail`); the alarm
 *   watches the rule's `AWS/Events` `TriggeredRules` metric. It needs a CloudTrail trail, and it sees every
 *   secret of the account and region (origin-guard's own are the usual cause).
 * - `RotationErrorLogs`: a metric filter counting log lines with `"level": "ERROR"` (Powertools Logger's JSON)
 *   in the rotation and retire functions' log groups: a step failing, a rollback, a retire that cannot close.
 */
export class Monitoring extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];
  public readonly dashboard: cloudwatch.Dashboard;
  /** The rule matching Secrets Manager's rotation-failure events; undefined without rotation functions. */
  public readonly rotationFailureRule?: events.Rule;

  private readonly action: cwActions.SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.functions.length === 0) problems.push('functions must not be empty');
    const names = props.functions.map((f) => f.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) problems.push(`function name "${name}" is used more than once`);
    });
    throwIfProblems(`Monitoring ${this.node.path}`, problems);
    this.action = new cwActions.SnsAction(props.alertTopic);

    const period = Duration.minutes(5);
    const widgets: cloudwatch.IWidget[] = [];
    for (const { name, fn } of props.functions) {
      const scope = new Construct(this, name);
      const lambdaFn = fn.function;
      const errors = lambdaFn.metricErrors({ period, statistic: cloudwatch.Stats.SUM });
      const throttles = lambdaFn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM });
      const dlqDepth = fn.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM });
      this.alarm(scope, 'Errors', errors, `origin-guard ${name}: the function failed at least once in 5 minutes; its log group holds the error.`);
      this.alarm(scope, 'Throttles', throttles, `origin-guard ${name}: invocations were throttled (a run took longer than its schedule, or the account is out of concurrency).`);
      this.alarm(scope, 'DeadLetters', dlqDepth, `origin-guard ${name}: events failed every retry and wait in the dead-letter queue; inspect and redrive them.`);
      widgets.push(
        new cloudwatch.GraphWidget({
          title: `${name}: invocations, errors, throttles`,
          left: [lambdaFn.metricInvocations({ period }), errors, throttles],
          width: 8,
        }),
        new cloudwatch.GraphWidget({ title: `${name}: duration (p99)`, left: [lambdaFn.metricDuration({ period, statistic: 'p99' })], width: 8 }),
        new cloudwatch.GraphWidget({ title: `${name}: dead-letter queue`, left: [dlqDepth], width: 8 }),
      );
    }

    const rotationFunctions = props.rotationFunctions ?? [];
    if (rotationFunctions.length > 0) {
      const rotationScope = new Construct(this, 'Rotation');
      this.rotationFailureRule = new events.Rule(rotationScope, 'FailureEvents', {
        description: 'origin-guard: Secrets Manager reports a rotation that did not complete',
        eventPattern: {
          source: ['aws.secretsmanager'],
          detailType: ['AWS Service Event via CloudTrail'],
          detail: { eventSource: ['secretsmanager.amazonaws.com'], eventName: ROTATION_FAILURE_EVENTS },
        },
        targets: props.rotationFailureTarget ? [props.rotationFailureTarget] : [],
      });
      const triggered = new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: this.rotationFailureRule.ruleName },
        period,
        statistic: cloudwatch.Stats.SUM,
      });
      this.alarm(
        rotationScope,
        'RotationFailures',
        triggered,
        'Secrets Manager reported RotationFailed, RotationAbandoned or TestRotationFailed: a rotation did not complete. Run `origin-guard status`, read the rotation function logs, then retry with `origin-guard rotate`.',
      );

      const errorLogs = new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: 'RotationErrorLogs', period, statistic: cloudwatch.Stats.SUM });
      rotationFunctions.forEach((fn, i) => {
        new logs.MetricFilter(rotationScope, `ErrorLogs${i}`, {
          logGroup: fn.logGroup,
          metricNamespace: METRIC_NAMESPACE,
          metricName: 'RotationErrorLogs',
          filterPattern: logs.FilterPattern.stringValue('$.level', '=', 'ERROR'),
          metricValue: '1',
        });
      });
      this.alarm(
        rotationScope,
        'RotationErrorLogs',
        errorLogs,
        'The rotation or retire function logged an ERROR: a rotation step failed and was rolled back, or an overlap could not be closed. Run `origin-guard status` and read the function logs.',
      );
      widgets.push(
        new cloudwatch.GraphWidget({ title: 'rotation: failures reported by Secrets Manager', left: [triggered], width: 12 }),
        new cloudwatch.GraphWidget({ title: 'rotation: ERROR log lines', left: [errorLogs], width: 12 }),
      );
    }

    const appWidgets = this.applicationMetrics(new Set(props.functions.map((f) => f.name)), period);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `origin-guard-${Stack.of(this).stackName}`,
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'origin-guard alarms', alarms: this.alarms, width: 24 }));
    for (let i = 0; i < widgets.length; i += 3) this.dashboard.addWidgets(...widgets.slice(i, i + 3));
    for (let i = 0; i < appWidgets.length; i += 2) this.dashboard.addWidgets(...appWidgets.slice(i, i + 2));
  }

  /**
   * What the handlers report through Powertools Metrics (namespace OriginGuard, dimension `service`): graphs
   * per function, and alarms for what needs a person: a critical finding open, alerts that could not be
   * sent, a reconcile target held or failed, a rotation step that failed.
   */
  private applicationMetrics(present: Set<string>, period: Duration): cloudwatch.IWidget[] {
    const scope = new Construct(this, 'AppMetrics');
    const widgets: cloudwatch.IWidget[] = [];
    const m = (service: string, metricName: string, statistic: string = cloudwatch.Stats.SUM) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service }, period, statistic });
    if (present.has('audit')) {
      const s = METRIC_SERVICE.audit;
      const critical = m(s, METRIC.findingsFailedCritical, cloudwatch.Stats.MAXIMUM);
      const notSent = m(s, METRIC.alertsNotSent);
      this.alarm(scope, 'CriticalFindings', critical, 'The audit found a CRITICAL check failing (an origin open to the world, a validator refusing the current value...). The alert names it; run `origin-guard audit` or `origin-guard report --html`.');
      this.alarm(scope, 'AuditAlertsNotSent', notSent, 'The audit could not publish alerts (SNS or the alert state table failed); they are retried on the next run. Check the audit function logs.');
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'audit: failing findings by severity',
          left: [critical, m(s, METRIC.findingsFailedHigh, cloudwatch.Stats.MAXIMUM), m(s, METRIC.findingsFailedMedium, cloudwatch.Stats.MAXIMUM), m(s, METRIC.findingsFailedLow, cloudwatch.Stats.MAXIMUM)],
          width: 12,
        }),
        new cloudwatch.GraphWidget({ title: 'audit: alerts sent / not sent', left: [m(s, METRIC.alertsSent), notSent], width: 12 }),
      );
    }
    if (present.has('reconcile')) {
      const s = METRIC_SERVICE.reconcile;
      const held = m(s, METRIC.targetsHeld, cloudwatch.Stats.MAXIMUM);
      const failed = m(s, METRIC.targetsFailed, cloudwatch.Stats.MAXIMUM);
      this.alarm(scope, 'ReconcileTargetsHeld', held, 'Reconcile held a target: the removal exceeded maxRemovalFraction. Review with `origin-guard reconcile --dry-run`, then `--force` if the ranges really shrank.');
      this.alarm(scope, 'ReconcileTargetsFailed', failed, 'Reconcile could not bring a target up to date (a source failed, the quota is full, or a write failed); nothing was half-applied. Read the reconcile function logs.');
      widgets.push(
        new cloudwatch.GraphWidget({ title: 'reconcile: rules added / removed', left: [m(s, METRIC.rulesAdded), m(s, METRIC.rulesRemoved)], width: 12 }),
        new cloudwatch.GraphWidget({ title: 'reconcile: targets held / failed', left: [held, failed], width: 12 }),
      );
    }
    if (present.has('rotation')) {
      const s = METRIC_SERVICE.rotation;
      const stepsFailed = m(s, METRIC.rotationStepsFailed);
      this.alarm(scope, 'RotationStepsFailed', stepsFailed, 'A rotation step failed (and was rolled back where it had started). Run `origin-guard status`, read the rotation function logs, then `origin-guard rotate`.');
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'rotation: step duration (max, p50) incl. propagation waits',
          left: [m(s, METRIC.rotationStepDuration, cloudwatch.Stats.MAXIMUM), m(s, METRIC.rotationStepDuration, 'p50')],
          width: 12,
        }),
        new cloudwatch.GraphWidget({ title: 'rotation: completed / failed steps', left: [m(s, METRIC.rotationsCompleted), stepsFailed], width: 12 }),
      );
    }
    if (present.has('retire')) {
      const s = METRIC_SERVICE.retire;
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'retire: overlaps closed / waiting / failed',
          left: [m(s, METRIC.overlapsClosed), m(s, METRIC.overlapsWaiting, cloudwatch.Stats.MAXIMUM), m(s, METRIC.retireFailed)],
          width: 24,
        }),
      );
    }
    return widgets;
  }

  private alarm(scope: Construct, id: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    // Notify on recovery too: an operator hears when the problem is gone.
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}
