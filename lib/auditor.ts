import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
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
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: `origin-guard: audit every ${scheduleMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      targets: [target],
    });
    this.cloudTrailRule = new events.Rule(this, 'CloudTrailChanges', {
      description: 'origin-guard: audit after CloudTrail API calls that may cause drift',
      eventPattern: cloudTrailPattern(Object.keys(AUDIT_TRIGGER_EVENTS), unique(Object.values(AUDIT_TRIGGER_EVENTS).flat())),
      targets: [target],
    });
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
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:ListSecretVersionIds'], resources: [secret.secretArn] }));
    }
    // Konnect tokens: the network checks, and the desired ranges the security-group check recomputes.
    fn.grantReadSecretsByName([
      ...(audit?.konnect ? [audit.konnect.tokenSecretName] : []),
      ...(config.ipRanges?.targets ?? []).flatMap((t) => t.sources.flatMap((s) => (s.type === 'konnect' ? [s.tokenSecretName] : []))),
    ]);
    // Alert state: the audit and the reconciler deduplicate alerts (lambdas/adapters/alert-state-dynamodb.ts).
    this.alertStateTable.grant(fn.grantPrincipal, ...ALERT_STATE_ACTIONS);

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
        ],
        resources: ['*'],
      }),
    );

    const policy = fn.policy;
    if (policy) {
      acknowledgeWildcardResource(
        policy,
        '*',
        'Only EC2 Describe* actions (security groups and their rules, peering connections, route tables, transit gateways and attachments, ' +
          'and DescribeManagedPrefixLists: the size of referenced prefix lists), which support no resource-level permissions; they are read-only. ' +
          'GetManagedPrefixListEntries is limited to the configured prefix-list ARNs.',
      );
    }
  }
}
