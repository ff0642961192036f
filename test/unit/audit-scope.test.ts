import { describe, expect, it } from 'vitest';
import { AUDIT_TRIGGER_EVENT_NAMES, identifiersOfApiCall, inScope } from '../../lambdas/core/audit-scope.ts';
import { AuditEventSchema, scopeOfEvent } from '../../lambdas/handlers/audit.ts';

const cloudTrail = (source: string, eventSource: string, eventName: string, requestParameters: unknown, extra: Record<string, unknown> = {}) => ({
  version: '0',
  id: 'e1',
  'detail-type': 'AWS API Call via CloudTrail',
  source,
  account: '123456789012',
  time: '2025-06-01T12:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: { eventVersion: '1.08', eventSource, eventName, requestParameters, ...extra },
});

describe('which resources a CloudTrail call names', () => {
  it.each([
    ['AuthorizeSecurityGroupIngress', 'ec2.amazonaws.com', { groupId: 'sg-0123456789abcdef0', ipPermissions: { items: [{ ipProtocol: 'tcp', ipRanges: { items: [{ cidrIp: '0.0.0.0/0' }] } }] } }, ['sg-0123456789abcdef0']],
    ['ModifySecurityGroupRules', 'ec2.amazonaws.com', { ModifySecurityGroupRulesRequest: { GroupId: 'sg-0123456789abcdef0', SecurityGroupRule: { SecurityGroupRuleId: 'sgr-0123456789abcdef0' } } }, ['sg-0123456789abcdef0', 'sgr-0123456789abcdef0']],
    ['CreateRoute', 'ec2.amazonaws.com', { routeTableId: 'rtb-0123456789abcdef0', destinationCidrBlock: '0.0.0.0/0', vpcPeeringConnectionId: 'pcx-0123456789abcdef0' }, ['rtb-0123456789abcdef0', 'pcx-0123456789abcdef0']],
    ['DeleteVpcPeeringConnection', 'ec2.amazonaws.com', { vpcPeeringConnectionId: 'pcx-0123456789abcdef0' }, ['pcx-0123456789abcdef0']],
    ['ModifyTransitGateway', 'ec2.amazonaws.com', { ModifyTransitGatewayRequest: { TransitGatewayId: 'tgw-0123456789abcdef0', Options: { AutoAcceptSharedAttachments: 'enable' } } }, ['tgw-0123456789abcdef0']],
    ['UpdateDistribution', 'cloudfront.amazonaws.com', { id: 'E2EXAMPLE1ABC', ifMatch: 'E1', distributionConfig: { comment: 'x', webACLId: '' } }, ['E2EXAMPLE1ABC']],
    ['ModifyManagedPrefixList', 'ec2.amazonaws.com', { ModifyManagedPrefixListRequest: { PrefixListId: 'pl-0123456789abcdef0', CurrentVersion: 3, AddEntry: { Cidr: '0.0.0.0/0', tag: 1 } } }, ['pl-0123456789abcdef0']],
    ['RestoreManagedPrefixListVersion', 'ec2.amazonaws.com', { RestoreManagedPrefixListVersionRequest: { PrefixListId: 'pl-0123456789abcdef0', PreviousVersion: 1, CurrentVersion: 4 } }, ['pl-0123456789abcdef0']],
    [
      'UpdateSecurityGroupRuleDescriptionsIngress',
      'ec2.amazonaws.com',
      { groupId: 'sg-0123456789abcdef0', ipPermissions: { items: [{ ipProtocol: 'tcp', fromPort: 443, toPort: 443, ipRanges: { items: [{ cidrIp: '192.0.2.0/24', description: 'manual' }] } }] } },
      ['sg-0123456789abcdef0'],
    ],
    [
      'UpdateSecurityGroupRuleDescriptionsIngress (by rule id)',
      'ec2.amazonaws.com',
      { UpdateSecurityGroupRuleDescriptionsIngressRequest: { GroupId: 'sg-0123456789abcdef0', SecurityGroupRuleDescriptions: [{ SecurityGroupRuleId: 'sgr-0123456789abcdef0', Description: 'x' }] } },
      ['sg-0123456789abcdef0', 'sgr-0123456789abcdef0'],
    ],
    ['DisassociateWebACL', 'wafv2.amazonaws.com', { resourceArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/alb/1' }, ['arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/alb/1']],
  ])('%s', (_eventName, eventSource, requestParameters, expected) => {
    expect(identifiersOfApiCall(eventSource, requestParameters)).toEqual(expect.arrayContaining(expected));
  });

  it('never picks up header values from a web ACL update, only names, ids and ARNs', () => {
    const ids = identifiersOfApiCall('wafv2.amazonaws.com', {
      name: 'gateway-acl',
      scope: 'REGIONAL',
      id: 'a1b2',
      rules: [{ name: 'origin-verify', statement: { notStatement: { statement: { byteMatchStatement: { searchString: 'the-secret-value' } } } } }],
    });

    expect(ids).toEqual(expect.arrayContaining(['gateway-acl', 'a1b2']));
    expect(ids).not.toContain('the-secret-value');
  });

  it('stops walking absurdly deep request parameters', () => {
    let deep: Record<string, unknown> = { groupId: 'sg-0123456789abcdef0' };
    for (let i = 0; i < 100; i += 1) deep = { nested: deep };

    expect(identifiersOfApiCall('ec2.amazonaws.com', deep)).toEqual([]);
  });

  it('matches an ARN against the bare id it ends with, either way round', () => {
    const scope = { identifiers: ['arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/gateway-acl/a1b2'] };

    expect(inScope(scope, 'a1b2')).toBe(true);
    expect(inScope({ identifiers: ['E2EXAMPLE1ABC'] }, 'arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE1ABC')).toBe(true);
    expect(inScope(scope, 'other')).toBe(false);
    expect(inScope(undefined, 'anything')).toBe(true);
  });

  it('lists the calls that change what a group admits without touching its rules: prefix lists and rule descriptions', () => {
    // A description edit moves a rule in or out of origin-guard's ownership; a prefix list change moves ranges.
    for (const name of ['ModifyManagedPrefixList', 'RestoreManagedPrefixListVersion', 'UpdateSecurityGroupRuleDescriptionsIngress']) {
      expect(AUDIT_TRIGGER_EVENT_NAMES).toContain(name);
    }
  });

  it('lists the calls the issue names', () => {
    for (const name of ['UpdateDistribution', 'UpdateWebACL', 'DisassociateWebACL', 'AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress', 'ModifySecurityGroupRules', 'DeleteVpcPeeringConnection', 'CreateRoute', 'ReplaceRoute', 'DeleteRoute']) {
      expect(AUDIT_TRIGGER_EVENT_NAMES).toContain(name);
    }
  });
});

describe('audit event scope', () => {
  it('audits everything on the schedule', () => {
    const event = AuditEventSchema.parse({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} });

    expect(scopeOfEvent(event)).toBeUndefined();
  });

  it('audits what a CloudTrail call names', () => {
    const event = AuditEventSchema.parse(cloudTrail('aws.ec2', 'ec2.amazonaws.com', 'RevokeSecurityGroupIngress', { groupId: 'sg-0123456789abcdef0' }));

    expect(scopeOfEvent(event)).toEqual({ identifiers: ['sg-0123456789abcdef0'], cause: 'ec2.amazonaws.com:RevokeSecurityGroupIngress' });
  });

  it('skips a call that failed, and audits everything when a call names nothing it recognises', () => {
    const failed = AuditEventSchema.parse(cloudTrail('aws.ec2', 'ec2.amazonaws.com', 'CreateRoute', { routeTableId: 'rtb-0123456789abcdef0' }, { errorCode: 'Client.RouteAlreadyExists' }));
    const opaque = AuditEventSchema.parse(cloudTrail('aws.ec2', 'ec2.amazonaws.com', 'CreateRoute', null));

    expect(scopeOfEvent(failed)).toBe('skip');
    expect(scopeOfEvent(opaque)).toBeUndefined();
  });
});
