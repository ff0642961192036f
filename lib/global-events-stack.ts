import { Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { GLOBAL_REGION } from './arns.ts';
import { AUDIT_TRIGGER_EVENTS, cloudTrailPattern } from './auditor.ts';
import { throwIfProblems } from './errors.ts';

export interface GlobalEventsStackProps extends StackProps {
  /** The region of the origin-guard stack, whose default event bus receives the forwarded events. */
  readonly homeRegion: string;
}

/**
 * The small us-east-1 stack that the app adds when the home region is another one.
 *
 * CloudFront is a global service: its CloudTrail events (UpdateDistribution, …) are logged in us-east-1 only,
 * and so are the calls to CLOUDFRONT-scope WAF (which has its endpoint there). The audit's EventBridge rule
 * lives in the home region, so two rules here forward those events, unchanged, to the home region's default
 * event bus (a cross-region EventBridge target, through a role allowed `events:PutEvents` on that bus only).
 * The events keep their `source`, `detail-type` and `detail`, so the home rule matches them like local ones.
 *
 * The stack references nothing of the home stack: the two deploy in any order. With us-east-1 as the home
 * region the events are already local and the app creates no second stack.
 */
export class GlobalEventsStack extends Stack {
  public readonly homeEventBus: events.IEventBus;
  public readonly forwardingRole: iam.Role;
  public readonly cloudFrontRule: events.Rule;
  public readonly wafRule: events.Rule;

  constructor(scope: Construct, id: string, props: GlobalEventsStackProps) {
    super(scope, id, props);
    const problems: string[] = [];
    if (this.region !== GLOBAL_REGION) problems.push(`env.region must be ${GLOBAL_REGION}, got ${this.region}`);
    if (props.homeRegion === GLOBAL_REGION) problems.push(`homeRegion ${GLOBAL_REGION} needs no forwarding stack`);
    throwIfProblems(`GlobalEventsStack ${this.node.path}`, problems);

    this.homeEventBus = events.EventBus.fromEventBusArn(
      this,
      'HomeEventBus',
      this.formatArn({ service: 'events', region: props.homeRegion, resource: 'event-bus', resourceName: 'default' }),
    );
    // One role for both rules, allowed to put events on the home bus only.
    this.forwardingRole = new iam.Role(this, 'ForwardingRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `origin-guard: forwards CloudTrail events to ${props.homeRegion}`,
    });
    const forward = new targets.EventBus(this.homeEventBus, { role: this.forwardingRole });

    this.cloudFrontRule = new events.Rule(this, 'ForwardCloudFrontCalls', {
      description: `origin-guard: forward CloudFront API calls to the default event bus of ${props.homeRegion} (audit triggers)`,
      eventPattern: cloudTrailPattern(['aws.cloudfront'], AUDIT_TRIGGER_EVENTS['aws.cloudfront']),
      targets: [forward],
    });
    // Not filtered on scope: PutLoggingConfiguration and DeleteLoggingConfiguration carry only an ARN. The
    // audit ignores events about resources it does not watch (REGIONAL ones of us-east-1).
    this.wafRule = new events.Rule(this, 'ForwardCloudFrontWafCalls', {
      description: `origin-guard: forward CLOUDFRONT-scope WAF API calls to the default event bus of ${props.homeRegion} (audit triggers)`,
      eventPattern: cloudTrailPattern(['aws.wafv2'], AUDIT_TRIGGER_EVENTS['aws.wafv2']),
      targets: [forward],
    });
  }
}
