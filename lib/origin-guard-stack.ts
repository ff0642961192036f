import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Config } from '../lambdas/config.ts';
import { Alerts } from './alerts.ts';
import { GLOBAL_REGION } from './arns.ts';
import { Auditor, scheduleNotRunAlarm } from './auditor.ts';
import { throwIfProblems } from './errors.ts';
import type { PowertoolsLogLevel } from './function.ts';
import { GlobalEventsStack } from './global-events-stack.ts';
import { Monitoring, type MonitoredFunction } from './monitoring.ts';
import { PostureReportBucket } from './posture-report.ts';
import { Reconciler } from './reconciler.ts';
import { HubAccess } from './hub-access.ts';
import { AuditFanOut } from './audit-fan-out.ts';
import { SpokeStack, SpokeStackSetStack } from './spoke-stack.ts';
import { accountRegions } from '../lambdas/accounts.ts';
import { SecretRotation } from './rotation.ts';

export interface OriginGuardStackProps extends StackProps {
  /** The validated configuration (lambdas/config.ts). The stack is deployed in `config.region`. */
  readonly config: Config;
  /**
   * Rotate each secret when it is first deployed, instead of waiting for an operator's `origin-guard rotate`
   * or the first scheduled rotation.
   * @default false
   */
  readonly rotateImmediately?: boolean;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /** X-Ray active tracing of the functions. @default false */
  readonly tracing?: boolean;
  /** Directory holding the handler sources. @default lambdas/handlers of this package */
  readonly handlersDir?: string;
}

/**
 * origin-guard in one stack: the alerts topic and state table, secret rotation (when `secrets` lists any),
 * the security-group reconciler (when `ipRanges` is set), the auditor, and the alarms and dashboard that
 * watch them all.
 */
export class OriginGuardStack extends Stack {
  public readonly config: Config;
  public readonly alerts: Alerts;
  public readonly rotation?: SecretRotation;
  public readonly reconciler?: Reconciler;
  public readonly auditor: Auditor;
  public readonly monitoring: Monitoring;
  /** With `accounts`: named function roles allowed their spoke roles, and the bus policy for spoke events. */
  public readonly hubAccess?: HubAccess;
  /** The bucket of the posture page, when the config sets `report.bucket`. */
  public readonly postureReport?: PostureReportBucket;
  /** With `accounts`: the scheduled audit as a Step Functions Map, one invocation per account-region. */
  public readonly auditFanOut?: AuditFanOut;

  constructor(scope: Construct, id: string, props: OriginGuardStackProps) {
    super(scope, id, {
      description: 'origin-guard: rotates origin-verify secrets, reconciles security groups to CDN ranges, audits drift',
      ...props,
    });
    const { config } = props;
    const problems: string[] = [];
    if (this.region !== config.region) problems.push(`env.region (${this.region}) must be config.region (${config.region})`);
    throwIfProblems(`OriginGuardStack ${this.node.path}`, problems);
    this.config = config;

    const shared = { config, handlersDir: props.handlersDir, logRetention: props.logRetention, logLevel: props.logLevel, tracing: props.tracing };
    this.alerts = new Alerts(this, 'Alerts', { config: config.alerts });
    const alerting = { alertTopic: this.alerts.topic, alertStateTable: this.alerts.stateTable };

    const monitored: MonitoredFunction[] = [];
    if (config.secrets.length > 0) {
      this.rotation = new SecretRotation(this, 'Rotation', { ...shared, ...alerting, rotateImmediately: props.rotateImmediately });
      monitored.push({ name: 'rotation', fn: this.rotation.rotationFunction }, { name: 'retire', fn: this.rotation.retireFunction });
    }
    if (config.ipRanges) {
      this.reconciler = new Reconciler(this, 'Reconciler', { ...shared, ...alerting });
      monitored.push({ name: 'reconcile', fn: this.reconciler.function });
    }
    this.auditor = new Auditor(this, 'Auditor', { ...shared, ...alerting, secrets: this.rotation?.secrets.map((s) => s.secret) });
    monitored.push({ name: 'audit', fn: this.auditor.function });
    if (config.report) {
      this.postureReport = new PostureReportBucket(this, 'PostureReport', { report: config.report, writer: this.auditor.function.role });
    }

    if (Object.keys(config.accounts ?? {}).length > 0) {
      this.hubAccess = new HubAccess(this, 'HubAccess', {
        config,
        functionRoles: {
          rotate: this.rotation?.rotationFunction.role,
          retire: this.rotation?.retireFunction.role,
          reconcile: this.reconciler?.function.role,
          audit: this.auditor.function.role,
        },
      });
      this.auditFanOut = new AuditFanOut(this, 'AuditFanOut', { config, auditor: this.auditor, logRetention: props.logRetention });
    }

    if (this.reconciler) {
      // Watch the watcher: a disabled reconcile schedule is an audit finding and an alarm.
      this.auditor.watch(this.reconciler.scheduleRule.ruleName);
      scheduleNotRunAlarm(this.reconciler, 'ScheduleNotRun', this.reconciler.scheduleRule.ruleName, config.ipRanges?.scheduleMinutes ?? 60, this.alerts.topic, 'reconcile');
    }

    this.monitoring = new Monitoring(this, 'Monitoring', {
      alertTopic: this.alerts.topic,
      functions: monitored,
      rotationFunctions: this.rotation ? [this.rotation.rotationFunction, this.rotation.retireFunction] : [],
      rotationFailureTarget: this.auditor.ruleTarget,
    });
  }
}

export interface OriginGuardAppOptions {
  /** Account of both stacks. @default the account of the credentials at deploy time */
  readonly account?: string;
  /** @see OriginGuardStackProps.rotateImmediately */
  readonly rotateImmediately?: boolean;
  /** @see OriginGuardStackProps.handlersDir */
  readonly handlersDir?: string;
  /** @see OriginGuardStackProps.tracing */
  readonly tracing?: boolean;
}

/**
 * Adds origin-guard to an app: `OriginGuardStack` named `config.stackName` in `config.region` and, when that
 * region is not us-east-1, `GlobalEventsStack` (`<stackName>-GlobalEvents`) in us-east-1 forwarding
 * CloudFront and CLOUDFRONT-scope WAF CloudTrail events to the home region.
 */
export function addOriginGuardStacks(
  scope: Construct,
  config: Config,
  options: OriginGuardAppOptions = {},
): { stack: OriginGuardStack; globalEvents?: GlobalEventsStack; spokes?: SpokeStack[]; spokeStackSet?: SpokeStackSetStack } {
  const spokes = addSpokeStacks(scope, config);
  const stack = new OriginGuardStack(scope, config.stackName, {
    config,
    env: { account: options.account ?? config.hubAccountId, region: config.region },
    rotateImmediately: options.rotateImmediately,
    handlersDir: options.handlersDir,
    tracing: options.tracing,
  });
  if (config.region === GLOBAL_REGION) return { stack, ...spokes };
  const globalEvents = new GlobalEventsStack(scope, `${config.stackName}-GlobalEvents`, {
    env: { account: options.account, region: GLOBAL_REGION },
    homeRegion: config.region,
    description: `origin-guard: forwards CloudFront and CLOUDFRONT-scope WAF CloudTrail events to ${config.region} for the ${config.stackName} audit`,
  });
  return { stack, globalEvents, ...spokes };
}

/**
 * With `accounts`: one `<stackName>-Spoke-<account>-<region>` stack per configured account-region (`cdk deploy`
 * them with credentials of that account), and with `spokeStackSet` the StackSet alternative, in the hub.
 */
function addSpokeStacks(scope: Construct, config: Config): { spokes?: SpokeStack[]; spokeStackSet?: SpokeStackSetStack } {
  if (Object.keys(config.accounts ?? {}).length === 0) return {};
  const spokes = accountRegions(config)
    .filter((ar) => !(ar.accountId === config.hubAccountId && ar.region === config.region))
    .map((ar) => new SpokeStack(scope, `${config.stackName}-Spoke-${ar.account}-${ar.region}`, { config, account: ar.account, env: { account: ar.accountId, region: ar.region } }));
  const spokeStackSet = config.spokeStackSet
    ? new SpokeStackSetStack(scope, `${config.stackName}-SpokeStackSet`, { config, env: { account: config.hubAccountId, region: config.region } })
    : undefined;
  return { spokes, ...(spokeStackSet ? { spokeStackSet } : {}) };
}
