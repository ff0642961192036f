import { AUDIT_TRIGGER_EVENTS } from '../../lambdas/core/audit-scope.ts';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { InvalidPropsError } from '../../lib/errors.ts';
import { GlobalEventsStack } from '../../lib/global-events-stack.ts';
import { exampleConfig, flat, grants, policyStatements, synth } from './support.ts';

describe('CloudFront events for a home region other than us-east-1', () => {
  it('adds a us-east-1 stack forwarding CloudFront and WAF CloudTrail calls to the home default bus', () => {
    const { app, stack, globalEvents, globalTemplate } = synth(exampleConfig());
    expect(app.node.children.filter((c) => c instanceof GlobalEventsStack)).toHaveLength(1);
    expect(stack.region).toBe('eu-west-1');
    expect(globalEvents!.region).toBe('us-east-1');
    expect(globalEvents!.stackName).toBe('OriginGuard-GlobalEvents');

    const rules = Object.values(globalTemplate!.findResources('AWS::Events::Rule'));
    expect(rules.map((r) => r.Properties.EventPattern.source[0]).sort()).toEqual(['aws.cloudfront', 'aws.wafv2']);
    const homeBus = 'arn:{AWS::Partition}:events:eu-west-1:{AWS::AccountId}:event-bus/default';
    for (const rule of rules) {
      expect(rule.Properties.EventPattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
      expect(rule.Properties.Targets).toHaveLength(1);
      expect(flat(rule.Properties.Targets[0].Arn)).toBe(homeBus);
      expect(rule.Properties.Targets[0].RoleArn).toBeDefined();
    }
    const cloudfront = rules.find((r) => r.Properties.EventPattern.source[0] === 'aws.cloudfront')!;
    expect(cloudfront.Properties.EventPattern.detail.eventName).toContain('UpdateDistribution');
    const waf = rules.find((r) => r.Properties.EventPattern.source[0] === 'aws.wafv2')!;
    expect(waf.Properties.EventPattern.detail.eventName).toEqual(expect.arrayContaining(['UpdateWebACL', 'DeleteWebACL']));

    // The forwarding role may put events on the home bus, nothing else.
    globalTemplate!.resourceCountIs('AWS::IAM::Role', 1);
    expect(grants(policyStatements(globalTemplate!, 'ForwardingRole'))).toEqual([{ action: 'events:PutEvents', resource: homeBus, condition: undefined }]);
    // Nothing else lives there, and it depends on nothing of the home stack.
    expect(Object.keys(globalTemplate!.toJSON().Resources)).toHaveLength(4);
    expect(globalEvents!.dependencies).toEqual([]);
  });

  it('adds no second stack when the home region is us-east-1', () => {
    const { app, globalEvents, template } = synth(exampleConfig((json) => (json.region = 'us-east-1')));
    expect(globalEvents).toBeUndefined();
    expect(app.node.children.filter((c) => c instanceof GlobalEventsStack)).toHaveLength(0);
    // The home rule sees CloudFront events directly.
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: { source: Object.keys(AUDIT_TRIGGER_EVENTS) } });
  });

  it('refuses to be created outside us-east-1 or for a us-east-1 home', () => {
    const app = new App();
    expect(() => new GlobalEventsStack(app, 'Wrong', { env: { region: 'eu-west-1' }, homeRegion: 'us-east-1' })).toThrow(InvalidPropsError);
    try {
      new GlobalEventsStack(new App(), 'Wrong', { env: { region: 'eu-west-1' }, homeRegion: 'us-east-1' });
    } catch (error) {
      // Both problems at once.
      expect((error as InvalidPropsError).problems).toHaveLength(2);
    }
  });
});
