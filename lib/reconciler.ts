import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { inHubAccount } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import { ALERT_STATE_ACTIONS } from './alerts.ts';
import { prefixListArn, securityGroupArn, unique } from './arns.ts';
import { throwIfProblems } from './errors.ts';
import { DEFAULT_HANDLERS_DIR, HANDLER_SDK_CLIENTS, OriginGuardFunction, type PowertoolsLogLevel } from './function.ts';
import { acknowledgeWildcardResource } from './nag.ts';

/** AWS publishes every change of ip-ranges.json here (us-east-1, any account may subscribe a Lambda). */
export const AMAZON_IP_SPACE_CHANGED_TOPIC_ARN = 'arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged';

/** Tag keys the reconciler may write on its groups (the last applied syncToken lives in such a tag). */
export const RECONCILER_TAG_KEY_PATTERN = 'origin-guard:*';

export interface ReconcilerProps {
  /** The validated configuration; `ipRanges` must be set. Embedded into the function. */
  readonly config: Config;
  readonly alertTopic: sns.ITopic;
  readonly alertStateTable: dynamodb.ITable;
  /**
   * Subscribe to AWS's `AmazonIpSpaceChanged` topic so a new ip-ranges.json is applied within minutes.
   * @default true
   */
  readonly subscribeToIpSpaceChanged?: boolean;
  /** Directory holding `reconcile.ts`. @default lambdas/handlers of this package */
  readonly handlersDir?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /** X-Ray active tracing of the functions. @default false */
  readonly tracing?: boolean;
}

/**
 * Keeps the listed security groups (or prefix lists) equal to the CDN ranges and gateway egress IPs.
 *
 * The reconciler function (`lambdas/handlers/reconcile.ts`, a writer: reserved concurrency 1) runs on an
 * EventBridge schedule every `ipRanges.scheduleMinutes` and on every `AmazonIpSpaceChanged` notification.
 * That topic lives in us-east-1: from another home region the subscription is cross-region, which
 * CloudFormation supports through the `Region` property of `AWS::SNS::Subscription` (CDK's
 * LambdaSubscription sets it from the ARN of an imported topic: us-east-1), and the function's resource
 * policy lets `sns.amazonaws.com` invoke it for that topic ARN only. A notification whose invocation fails
 * every retry lands in the function's dead-letter queue (an SNS redrive queue would have to be in us-east-1).
 *
 * IAM: ingress changes and tags only on the configured groups' ARNs (tags limited to `origin-guard:*`
 * keys), prefix-list changes only on the configured lists, EC2 `Describe*` on `*` (those actions have no
 * resource-level permissions), and read access to the Konnect token secrets of `konnect` sources.
 */
export class Reconciler extends Construct {
  public readonly function: OriginGuardFunction;
  public readonly scheduleRule: events.Rule;
  /** The `AmazonIpSpaceChanged` subscription; undefined when `subscribeToIpSpaceChanged` is false. */
  public readonly ipSpaceChangedSubscription?: sns.Subscription;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const ipRanges = props.config.ipRanges;
    const problems: string[] = [];
    if (!ipRanges) problems.push('config.ipRanges must be set');
    else if (ipRanges.scheduleMinutes < 1) problems.push('ipRanges.scheduleMinutes must be at least 1');
    throwIfProblems(`Reconciler ${this.node.path}`, problems);
    const { targets: rangeTargets, scheduleMinutes } = ipRanges!;

    this.function = new OriginGuardFunction(this, 'ReconcileFunction', {
      config: props.config,
      entry: join(props.handlersDir ?? DEFAULT_HANDLERS_DIR, 'reconcile.ts'),
      bundledSdkClients: HANDLER_SDK_CLIENTS.reconcile,
      description: 'origin-guard: reconciles security groups to CDN ranges and gateway egress IPs',
      serviceName: 'origin-guard-reconcile',
      alertTopic: props.alertTopic,
      alertStateTable: props.alertStateTable,
      writer: true,
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      tracing: props.tracing,
    });
    const fn = this.function;

    // Targets of other accounts and regions are changed through their spoke roles (lib/spoke-permissions.ts).
    const hubTargets = rangeTargets.filter((t) => inHubAccount(props.config, t));
    const groupArns = unique(hubTargets.flatMap((t) => t.securityGroupIds)).map((id) => securityGroupArn(this, id));
    if (groupArns.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          // ModifySecurityGroupRules: adoption rewrites the description of an identical hand-made rule.
          actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'ec2:ModifySecurityGroupRules'],
          resources: groupArns,
        }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ec2:CreateTags', 'ec2:DeleteTags'],
          resources: groupArns,
          conditions: { 'ForAllValues:StringLike': { 'aws:TagKeys': [RECONCILER_TAG_KEY_PATTERN] } },
        }),
      );
    }
    const prefixLists = unique(hubTargets.flatMap((t) => t.prefixListIds ?? [])).map((id) => prefixListArn(this, id));
    if (prefixLists.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ec2:ModifyManagedPrefixList', 'ec2:GetManagedPrefixListEntries'],
          resources: prefixLists,
        }),
      );
    }
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        // DescribeManagedPrefixLists: a rule referencing a prefix list counts as its MaxEntries against the quota.
        actions: ['ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules', 'ec2:DescribeManagedPrefixLists'],
        resources: ['*'],
      }),
    );
    fn.grantReadSecretsByName(
      rangeTargets.flatMap((t) => t.sources.flatMap((s) => (s.type === 'konnect' ? [s.tokenSecretName] : []))),
    );
    // Alert state, as the audit's: a failure alerts once and its end once (lambdas/core/reconcile.ts).
    props.alertStateTable.grant(fn.grantPrincipal, ...ALERT_STATE_ACTIONS);
    // The reconcile lease per target lives in the same table (lambdas/adapters/lease-dynamodb.ts).
    props.alertStateTable.grant(fn.grantPrincipal, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    const policy = fn.policy;
    if (policy) {
      acknowledgeWildcardResource(
        policy,
        '*',
        'Only ec2:DescribeSecurityGroups, DescribeSecurityGroupRules and DescribeManagedPrefixLists (the size of referenced prefix lists, which count as their MaxEntries against the quota), which support no resource-level permissions; every write is limited to the configured group and prefix-list ARNs.',
      );
    }

    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: `origin-guard: reconcile security groups every ${scheduleMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
    });
    this.scheduleRule.addTarget(
      new targets.LambdaFunction(fn.function, {
        deadLetterQueue: fn.deadLetterQueue,
        retryAttempts: 2,
        // A run older than the next one is useless; EventBridge allows at most 24 hours.
        maxEventAge: Duration.minutes(Math.min(scheduleMinutes, 24 * 60)),
      }),
    );

    if (props.subscribeToIpSpaceChanged ?? true) {
      // LambdaSubscription adds the invoke permission (sns.amazonaws.com, source ARN = the topic) and, for an
      // imported topic, the subscription's Region from the topic ARN (us-east-1), so it works from any region.
      const topic = sns.Topic.fromTopicArn(this, 'AmazonIpSpaceChanged', AMAZON_IP_SPACE_CHANGED_TOPIC_ARN);
      this.ipSpaceChangedSubscription = topic.addSubscription(new subscriptions.LambdaSubscription(fn.function));
    }
  }
}
