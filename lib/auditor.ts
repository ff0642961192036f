import { join } from 'node:path';
import { Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { grantAdoptedKeyDecrypt } from './adopted-key.ts';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { inHubAccount } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import { AUDIT_TRIGGER_EVENTS } from '../lambdas/core/audit-scope.ts';
import { ALERT_STATE_ACTIONS } from './alerts.ts';
import { distributionArn, prefixListArn, unique, webAclArn, type WafScope } from './arns.ts';
import { throwIfProblems } from './errors.ts';
import { DEFAULT_HANDLERS_DIR, HANDLER_SDK_CLIENTS, OriginGuardFunction, type PowertoolsLogLevel } from './function.ts';
import { acknowledgeWildcardResource } from './nag.ts';

export const CLOUDTRAIL_API_CALL = 'AWS API Call via CloudTrail';

/**
 * The CloudTrail API calls that can cause drift, by EventBridge source: the audit handler's own list
 * (lambdas/core/audit-scope.ts), so the rules and the handler's event parsing never disagree.
 */
export { AUDIT_TRIGGER_EVENTS };

export type AuditEventSource = keyof typeof AUDIT_TRIGGER_EVENTS;

/** The event pattern of successful calls to `eventNames` from `sources` (failed calls change nothing). */
export function cloudTrailPattern(sources: readonly string[], eventNames: readonly string[], detail: Record<string, unknown> = {}): events.EventPattern {
  return {
    source: [...sources],
    detailType: [CLOUDTRAIL_API_CALL],
    detail: { eventName: [...eventNames], errorCode: events.Match.doesNotExist(), ...detail },
  };
}

/** A fixed rule name from the stack's: the audit function is told its rules' names (a token would be a cycle). */
export function fixedRuleName(scope: Construct, suffix: string): string {
  return `${Stack.of(scope).stackName.slice(0, 63 - suffix.length)}-${suffix}`;
}

/**
 * An alarm that breaches when an EventBridge schedule rule has not fired for twice its period: missing data
 * breaches, so a disabled or deleted rule (or a removed target) alarms instead of going quiet.
 */
export function scheduleNotRunAlarm(scope: Construct, id: string, ruleName: string, everyMinutes: number, topic: sns.ITopic, what: string): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: `origin-guard: the ${what} schedule (rule ${ruleName}) has not run for ${2 * everyMinutes} minutes: the rule was disabled, deleted or lost its target`,
    metric: new cloudwatch.Metric({
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensionsMap: { RuleName: ruleName },
      statistic: 'Sum',
      period: Duration.minutes(Math.min(2 * everyMinutes, 24 * 60)),
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(topic));
  alarm.addOkAction(new cwActions.SnsAction(topic));
  return alarm;
}

export interface AuditorProps {
  /** The validated configuration (`audit` is optional: without it the secrets and ranges are still audited). Embedded into the function. */
  readonly config: Config;
  readonly alertTopic: sns.ITopic;
  readonly alertStateTable: dynamodb.ITable;
  /** The rotated secrets, whose stages, tags and value fingerprints the audit compares with the targets. @default none */
  readonly secrets?: secretsmanager.ISecret[];
  /** Directory holding `audit.ts`. @default lambdas/handlers of this package */
  readonly handlersDir?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /** X-Ray active tracing of the functions. @default false */
  readonly tracing?: boolean;
}

/**
 * Finds drift of the WAF, CloudFront, security groups, peering, transit gateways, secrets and Konnect
 * networks, and alerts through SNS (once per new finding, once on its resolution).
 *
 * The audit function (`lambdas/handlers/audit.ts`) runs on an EventBridge schedule every
 * `audit.scheduleMinutes` (15 by default) and on the CloudTrail API calls of AUDIT_TRIGGER_EVENTS, seen on
 * the home region's default bus. Those events need a CloudTrail trail logging management events (an
 * organisation or multi-region trail will do). CloudFront's and CLOUDFRONT-scope WAF's calls are logged in
 * us-east-1: for another home region, GlobalEventsStack forwards them to this bus.
 *
 * IAM is read-only on the configured resources, plus EC2 `Describe*` on `*` (no resource-level permissions
 * exist for them), publishing alerts and the alert-state table.
 */
export class Auditor extends Construct {
  public readonly function: OriginGuardFunction;
  private readonly alertStateTable: dynamodb.ITable;
  public readonly scheduleRule: events.Rule;
  public readonly cloudTrailRule: events.Rule;
  /** The audit function as an EventBridge target (with its dead-letter queue), for other rules that should trigger an audit. */
  public readonly ruleTarget: events.IRuleTarget;
  /**
   * CloudTrail events wait here for a batching window, so a burst (one Terraform apply touching 50 rules) is one
   * audit per account and region, not 50 audits throttling each other.
   */
  public readonly eventQueue: sqs.Queue;
  /** Breaches when the audit schedule has not fired for twice its period. */
  public readonly scheduleNotRunAlarm: cloudwatch.Alarm;
  private readonly watchedRules: string[] = [];

  constructor(scope: Construct, id: string, props: AuditorProps) {
    super(scope, id);
    const { config } = props;
    const audit = config.audit;
    const scheduleMinutes = audit?.scheduleMinutes ?? 15;
    const problems: string[] = [];
    if (!Number.isInteger(scheduleMinutes) || scheduleMinutes < 1) problems.push('audit.scheduleMinutes must be a whole number of minutes, at least 1');
    throwIfProblems(`Auditor ${this.node.path}`, problems);

    this.function = new OriginGuardFunction(this, 'AuditFunction', {
      config,
      entry: join(props.handlersDir ?? DEFAULT_HANDLERS_DIR, 'audit.ts'),
      bundledSdkClients: HANDLER_SDK_CLIENTS.audit,
      description: 'origin-guard: audits WAF, CloudFront, security groups, peering, transit gateways, secrets and Konnect; alerts on drift',
      serviceName: 'origin-guard-audit',
      alertTopic: props.alertTopic,
      alertStateTable: props.alertStateTable,
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      tracing: props.tracing,
    });
    this.alertStateTable = props.alertStateTable;
    this.grantAuditAccess(config, props.secrets ?? []);

    const target = (this.ruleTarget = new targets.LambdaFunction(this.function.function, {
      deadLetterQueue: this.function.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    }));
    const scheduleName = fixedRuleName(this, 'audit-schedule');
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      ruleName: scheduleName,
      description: `origin-guard: audit every ${scheduleMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      targets: [target],
    });
    this.eventQueue = new sqs.Queue(this, 'EventQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's advice for a Lambda event source: six times the function's timeout.
      visibilityTimeout: Duration.minutes(30),
      retentionPeriod: Duration.hours(4),
      deadLetterQueue: { queue: this.function.deadLetterQueue, maxReceiveCount: 5 },
    });
    const cloudTrailName = fixedRuleName(this, 'audit-cloudtrail');
    this.cloudTrailRule = new events.Rule(this, 'CloudTrailChanges', {
      ruleName: cloudTrailName,
      description: 'origin-guard: audit after CloudTrail API calls that may cause drift (batched through a queue)',
      eventPattern: cloudTrailPattern(Object.keys(AUDIT_TRIGGER_EVENTS), unique(Object.values(AUDIT_TRIGGER_EVENTS).flat())),
      targets: [new targets.SqsQueue(this.eventQueue, { deadLetterQueue: this.function.deadLetterQueue, retryAttempts: 2 })],
    });
    // The batching window gathers a burst; the handler runs one audit per account and region under a lease.
    this.function.function.addEventSource(new SqsEventSource(this.eventQueue, { batchSize: 100, maxBatchingWindow: Duration.seconds(30), maxConcurrency: 2 }));

    this.function.function.addEnvironment('ORIGIN_GUARD_WATCHED_RULES', Lazy.string({ produce: () => this.watchedRules.join(',') }));
    this.watch(scheduleName, cloudTrailName);
    this.scheduleNotRunAlarm = scheduleNotRunAlarm(this, 'ScheduleNotRun', scheduleName, scheduleMinutes, props.alertTopic, 'audit');
    if (audit?.securityHub) {
      const stack = Stack.of(this);
      this.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['securityhub:BatchImportFindings'],
          resources: [stack.formatArn({ service: 'securityhub', resource: 'product', resourceName: `${stack.account}/default` })],
        }),
      );
      this.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['securityhub:GetFindings'], resources: [stack.formatArn({ service: 'securityhub', resource: 'hub', resourceName: 'default' })] }),
      );
    }
  }

  /**
   * Adds origin-guard rules (by their fixed names) to those the audit checks: each must exist, be enabled and
   * have a target (check `watch.rules`).
   */
  public watch(...ruleNames: string[]): void {
    this.watchedRules.push(...ruleNames);
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:DescribeRule', 'events:ListTargetsByRule'],
        resources: ruleNames.map((name) => Stack.of(this).formatArn({ service: 'events', resource: 'rule', resourceName: name })),
      }),
    );
  }

  /** Read-only on everything audited; writes only its alert state (and, via OriginGuardFunction, alerts, logs, dead letters). */
  private grantAuditAccess(config: Config, secrets: secretsmanager.ISecret[]): void {
    const fn = this.function;
    const audit = config.audit;

    const distributionIds = unique([
      // Items of other accounts and regions are read through the audit's spoke roles (lib/spoke-permissions.ts).
      ...(audit?.distributions ?? []).filter((d) => inHubAccount(config, d)).map((d) => d.id),
      ...config.secrets.flatMap((s) => s.senders.flatMap((x) => (x.type === 'cloudfront' && inHubAccount(config, x) ? [x.distributionId] : []))),
    ]);
    if (distributionIds.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig'],
          resources: distributionIds.map((id) => distributionArn(this, id)),
        }),
      );
    }

    const acls = new Map<string, { scope: WafScope; name: string; id: string }>();
    for (const acl of (audit?.webAcls ?? []).filter((w) => inHubAccount(config, w))) acls.set(`${acl.scope}/${acl.name}/${acl.id}`, acl);
    for (const s of config.secrets) {
      for (const v of s.validators) {
        if (v.type === 'wafv2' && inHubAccount(config, v)) acls.set(`${v.scope}/${v.webAclName}/${v.webAclId}`, { scope: v.scope, name: v.webAclName, id: v.webAclId });
      }
    }
    // A distribution's expected web ACL (by name) is compared with the ARN in its config: no extra read.
    const aclArns = [...acls.values()].map((acl) => webAclArn(this, acl));
    if (aclArns.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['wafv2:GetWebACL', 'wafv2:GetLoggingConfiguration'], resources: aclArns }),
      );
    }
    const protectedResources = unique((audit?.webAcls ?? []).filter((w) => inHubAccount(config, w)).flatMap((acl) => acl.resourceArns));
    if (protectedResources.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['wafv2:GetWebACLForResource'], resources: [...protectedResources, ...aclArns] }),
      );
    }

    for (const secret of secrets) {
      secret.grantRead(fn.grantPrincipal);
      grantAdoptedKeyDecrypt(secret, fn.grantPrincipal);
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:ListSecretVersionIds'], resources: [secret.secretArn] }));
    }
    // Konnect tokens: the network checks, and the desired ranges the security-group check recomputes.
    fn.grantReadSecretsByName([
      ...(audit?.konnect ? [audit.konnect.tokenSecretName] : []),
      ...(config.ipRanges?.targets ?? []).flatMap((t) => t.sources.flatMap((s) => (s.type === 'konnect' ? [s.tokenSecretName] : []))),
    ]);
    // Alert state: the audit and the reconciler deduplicate alerts (lambdas/adapters/alert-state-dynamodb.ts).
    this.alertStateTable.grant(fn.grantPrincipal, ...ALERT_STATE_ACTIONS);
    // DeleteItem: releases the lease per account-region (lambdas/handlers/audit.ts), and removes the state of an
    // item removed from the config after resolving its alert; Scan lists the failing states for that
    // (lambdas/core/alerts.ts resolveRemovedItems). Finding ids have no common prefix to scope LeadingKeys to.
    this.alertStateTable.grant(fn.grantPrincipal, 'dynamodb:DeleteItem', 'dynamodb:Scan');

    // Prefix-list targets: the reconcile dry run reads the lists' entries. Every audit describes the lists that
    // rules reference (a reference counts as the list's MaxEntries against the group's quota).
    const prefixLists = unique((config.ipRanges?.targets ?? []).filter((t) => inHubAccount(config, t)).flatMap((t) => t.prefixListIds ?? [])).map((id) => prefixListArn(this, id));
    if (prefixLists.length > 0) {
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:GetManagedPrefixListEntries'], resources: prefixLists }));
    }
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSecurityGroupRules',
          'ec2:DescribeVpcPeeringConnections',
          'ec2:DescribeRouteTables',
          'ec2:DescribeTransitGateways',
          'ec2:DescribeTransitGatewayAttachments',
          'ec2:DescribeManagedPrefixLists',
          // audit.origins: the groups attached to the load balancers and network interfaces, and the entries of
          // the prefix lists those groups reference (customer lists and CloudFront's), which are not known ahead.
          'ec2:DescribeNetworkInterfaces',
          'elasticloadbalancing:DescribeLoadBalancers',
        ],
        resources: ['*'],
      }),
    );
    // The entries of the prefix lists the audited groups reference (customer lists can hide broad ranges; the
    // CloudFront origin-facing list tells which rules admit CloudFront): this account's lists and AWS-managed ones.
    const stack = Stack.of(this);
    const prefixListWildcards = [
      stack.formatArn({ service: 'ec2', resource: 'prefix-list', resourceName: '*' }),
      stack.formatArn({ service: 'ec2', account: 'aws', resource: 'prefix-list', resourceName: '*' }),
    ];
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:GetManagedPrefixListEntries'], resources: prefixListWildcards }));
    // tgw.route-tables: where an attachment is associated and propagates, over the gateway's route tables.
    const tgwTables = (audit?.transitGateways ?? []).some((t) => t.transitGatewayRouteTableIds)
      ? stack.formatArn({ service: 'ec2', resource: 'transit-gateway-route-table', resourceName: '*' })
      : undefined;
    if (tgwTables) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['ec2:GetTransitGatewayRouteTableAssociations', 'ec2:GetTransitGatewayRouteTablePropagations'], resources: [tgwTables] }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeTransitGatewayRouteTables'], resources: ['*'] }));
    }

    const policy = fn.policy;
    if (policy) {
      if (tgwTables) {
        acknowledgeWildcardResource(
          policy,
          tgwTables,
          'Read-only associations and propagations of the transit gateway route tables of this account and region: finding an attachment associated ' +
            'with or propagating to a route table the config does not allow means reading the ones it does not name.',
        );
      }
      for (const wildcard of prefixListWildcards) {
        acknowledgeWildcardResource(
          policy,
          wildcard,
          'Read-only ec2:GetManagedPrefixListEntries on prefix lists of this account and region and AWS-managed ones: which lists the audited ' +
            'groups reference (customer lists can hide broad ranges; CloudFront origin-facing tells which rules admit CloudFront) is only known at run time.',
        );
      }
      acknowledgeWildcardResource(
        policy,
        '*',
        'Only EC2 Describe* actions (security groups and their rules, peering connections, route tables, transit gateways and attachments, ' +
          'and DescribeManagedPrefixLists: the size of referenced prefix lists), which support no resource-level permissions; they are read-only. ' +
          'DescribeNetworkInterfaces and elasticloadbalancing:DescribeLoadBalancers (the groups attached to audited origins) are read-only too. ' +
          'GetManagedPrefixListEntries is limited to prefix lists of this account and region and AWS-managed ones: the lists a group references ' +
          '(customer lists that may hide broad ranges, CloudFront origin-facing) are only known at run time.',
      );
    }
  }
}
