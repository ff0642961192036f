/** The new CloudTrail triggers map to the right scope, and a burst of events to one audit per account and region. */
import { describe, expect, it } from 'vitest';
import { AUDIT_TRIGGER_EVENT_NAMES, identifiersOfApiCall, inScope, planAuditRuns, type QueuedAuditEvent } from '../../lambdas/core/audit-scope.ts';
import { scopeOfEvent, type AuditEvent } from '../../lambdas/handlers/audit.ts';

const cloudTrail = (source: string, eventSource: string, eventName: string, requestParameters: unknown): AuditEvent =>
  ({
    version: '0',
    id: 'e',
    'detail-type': 'AWS API Call via CloudTrail',
    source,
    account: '123456789012',
    region: 'eu-west-1',
    time: '2026-12-03T03:00:00Z',
    resources: [],
    detail: { eventSource, eventName, requestParameters },
  }) as AuditEvent;

describe('new CloudTrail triggers', () => {
  it('lists every call the issue names', () => {
    for (const name of [
      'UpdateDistributionWithStagingConfig',
      'UpdateVpcOrigin',
      'UpdateOriginAccessControl',
      'UpdateIPSet',
      'UpdateRuleGroup',
      'UpdateRegexPatternSet',
      'ModifyNetworkInterfaceAttribute',
      'AcceptVpcPeeringConnection',
      'ModifyVpcPeeringConnectionOptions',
      'ReplaceRouteTableAssociation',
      'CreateTransitGatewayRoute',
      'EnableTransitGatewayRouteTablePropagation',
      'SetSecurityGroups',
      'DisableRule',
      'DeleteRule',
      'RemoveTargets',
    ]) {
      expect(AUDIT_TRIGGER_EVENT_NAMES).toContain(name);
    }
  });

  it("scopes DisableRule to the rule it names (a watched rule is in scope, another one is not)", () => {
    const scope = scopeOfEvent(cloudTrail('aws.events', 'events.amazonaws.com', 'DisableRule', { name: 'OriginGuard-audit-schedule' }));

    expect(scope).toMatchObject({ identifiers: ['OriginGuard-audit-schedule'] });
    expect(inScope(scope as never, 'OriginGuard-audit-schedule')).toBe(true);
    expect(inScope(scope as never, 'someone-elses-rule')).toBe(false);
  });

  it('scopes an ENI group swap and a load balancer group swap to what they name', () => {
    expect(identifiersOfApiCall('ec2.amazonaws.com', { networkInterfaceId: 'eni-0123456789abcdef0', groupSet: { items: [{ groupId: 'sg-0a1b2c3d4e' }] } })).toEqual([
      'eni-0123456789abcdef0',
      'sg-0a1b2c3d4e',
    ]);
    const arn = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/alb/123';
    expect(scopeOfEvent(cloudTrail('aws.elasticloadbalancing', 'elasticloadbalancing.amazonaws.com', 'SetSecurityGroups', { loadBalancerArn: arn, securityGroups: ['sg-0a1b2c3d4e'] }))).toMatchObject({
      identifiers: [arn, 'sg-0a1b2c3d4e'],
    });
  });

  it('audits everything after a change to something a web ACL or route table only references', () => {
    expect(scopeOfEvent(cloudTrail('aws.wafv2', 'wafv2.amazonaws.com', 'UpdateIPSet', { name: 'monitoring', id: 'abc', scope: 'REGIONAL' }))).toBeUndefined();
    expect(scopeOfEvent(cloudTrail('aws.ec2', 'ec2.amazonaws.com', 'CreateTransitGatewayRoute', { transitGatewayRouteTableId: 'tgw-rtb-0123456789abcdef0' }))).toBeUndefined();
  });
});

describe('planAuditRuns', () => {
  const event = (i: number, region = 'eu-west-1'): QueuedAuditEvent => ({ account: '123456789012', region, scope: { identifiers: [`sg-0000000${i % 3}`], cause: 'ec2.amazonaws.com:AuthorizeSecurityGroupIngress' } });

  it('turns 50 events of one account and region into one run naming every resource once', () => {
    const runs = planAuditRuns(Array.from({ length: 50 }, (_, i) => event(i)));

    expect(runs).toEqual([
      { account: '123456789012', region: 'eu-west-1', events: 50, scope: { identifiers: ['sg-00000000', 'sg-00000001', 'sg-00000002'], cause: 'ec2.amazonaws.com:AuthorizeSecurityGroupIngress' } },
    ]);
  });

  it('runs once per account and region, in full when one event asks for everything, and drops failed calls', () => {
    const runs = planAuditRuns([event(1), event(2, 'us-east-1'), { account: '123456789012', region: 'eu-west-1', scope: undefined }, { account: '123456789012', region: 'ap-south-1', scope: 'skip' }]);

    expect(runs).toEqual([
      { account: '123456789012', region: 'eu-west-1', events: 2, scope: undefined },
      { account: '123456789012', region: 'us-east-1', events: 1, scope: { identifiers: ['sg-00000002'], cause: 'ec2.amazonaws.com:AuthorizeSecurityGroupIngress' } },
    ]);
  });
});
