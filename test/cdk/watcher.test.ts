/** Watch the watcher: origin-guard's own rules have fixed names the audit checks, and alarms breach when they stop. */
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { exampleConfig, grants, policyStatements, synth } from './support.ts';

describe('watching origin-guard itself', () => {
  const { template, stack, app } = synth(exampleConfig((json) => ((json.audit ??= {}).securityHub = true)));
  const stackName = stack.stackName;

  it('names the audit rules after the stack and tells the audit function which rules to watch', () => {
    template.hasResourceProperties('AWS::Events::Rule', { Name: `${stackName}-audit-schedule`, ScheduleExpression: Match.stringLikeRegexp('^rate\\(') });
    template.hasResourceProperties('AWS::Events::Rule', { Name: `${stackName}-audit-cloudtrail` });
    const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f) => f.Properties.Environment?.Variables?.ORIGIN_GUARD_WATCHED_RULES !== undefined,
    );
    expect(fns).toHaveLength(1);
    const watched = JSON.stringify(fns[0].Properties.Environment.Variables.ORIGIN_GUARD_WATCHED_RULES);
    expect(watched).toContain(`${stackName}-audit-schedule`);
    expect(watched).toContain(`${stackName}-audit-cloudtrail`);
    // The reconcile schedule too (by reference: its name is CloudFormation's).
    expect(watched).toMatch(/ReconcilerSchedule/);
  });

  it('alarms when the audit or reconcile schedule has not fired for twice its period (missing data breaches)', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'TriggeredRules' && a.Properties.Namespace === 'AWS/Events');
    const onRule = (name: string) => alarms.find((a) => JSON.stringify(a.Properties.Dimensions).includes(name));
    const audit = onRule(`${stackName}-audit-schedule`);
    expect(audit?.Properties).toMatchObject({
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      Period: 2 * 15 * 60,
      AlarmActions: [expect.anything()],
    });
    expect(onRule('ReconcilerSchedule')?.Properties).toMatchObject({ TreatMissingData: 'breaching', ComparisonOperator: 'LessThanThreshold' });
  });

  it('grants the rule reads on those rules only, and Security Hub import on the account default product', () => {
    const granted = grants(policyStatements(template, 'AuditorAuditFunction'));
    const describeRule = granted.filter((g) => g.action === 'events:DescribeRule').map((g) => g.resource);
    expect(describeRule.length).toBeGreaterThanOrEqual(3);
    for (const resource of describeRule) expect(resource).toMatch(/:rule\//);
    expect(granted.find((g) => g.action === 'securityhub:BatchImportFindings')?.resource).toMatch(/:product\/.*\/default$/);
  });

  it('stays clean under cdk-nag', () => {
    const violations = new AwsSolutionsChecks().validateScope(app).violations;
    expect(violations).toEqual([]);
  });
});

describe('tgw.route-tables permissions', () => {
  it('reads route-table associations and propagations only when allowed route tables are configured, and stays nag-clean', () => {
    const plain = synth();
    expect(grants(policyStatements(plain.template, 'AuditorAuditFunction')).filter((g) => g.action.startsWith('ec2:GetTransitGateway'))).toEqual([]);
    const { template, app } = synth(
      exampleConfig((json) => {
        json.audit.transitGateways = [{ attachmentId: 'tgw-attach-0a1b2c3d4e5f60001', transitGatewayRouteTableIds: ['tgw-rtb-0a1b2c3d4e5f60001'] }];
      }),
    );
    const granted = grants(policyStatements(template, 'AuditorAuditFunction'));
    expect(granted.find((g) => g.action === 'ec2:GetTransitGatewayRouteTablePropagations')?.resource).toMatch(/:transit-gateway-route-table\/\*$/);
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});
