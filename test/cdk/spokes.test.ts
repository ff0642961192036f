import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { InvalidPropsError } from '../../lib/errors.ts';
import { addOriginGuardStacks } from '../../lib/origin-guard-stack.ts';
import { SpokeStack } from '../../lib/spoke-stack.ts';
import { exampleJson, grants, policyStatements, STUB_HANDLERS_DIR } from './support.ts';

const HUB = '999999999999';
const EDGE = '111111111111';
const WORKLOAD = '222222222222';

function multiAccountConfig(change: (json: Record<string, any>) => void = () => {}): Config {
  const json = exampleJson();
  json.hubAccountId = HUB;
  json.organizationId = 'o-a1b2c3d4e5';
  json.accounts = { edge: { accountId: EDGE, regions: ['us-east-1'] }, workload: { accountId: WORKLOAD, regions: ['eu-west-1', 'eu-central-1'] } };
  json.secrets[0].senders[0].account = 'edge';
  json.secrets[0].validators[0].account = 'workload';
  json.secrets[0].validators[0].region = 'eu-central-1';
  json.ipRanges.targets[0].account = 'workload';
  json.audit = { ...(json.audit ?? {}), distributions: [{ id: 'E2EXAMPLE1ABC', account: 'edge' }] };
  change(json);
  return parseConfig(json, 'test configuration');
}

function synthAll(config: Config) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const result = addOriginGuardStacks(app, config, { handlersDir: STUB_HANDLERS_DIR });
  return { app, ...result };
}

function violations(scope: IConstruct) {
  return new AwsSolutionsChecks().validateScope(scope).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
}

/** The default multi-account app, synthesized once for the tests that only read it. */
let shared: ReturnType<typeof synthAll> | undefined;
const sharedApp = () => (shared ??= synthAll(multiAccountConfig()));

const spokeOf = (spokes: SpokeStack[] | undefined, account: string, region: string) => spokes!.find((s) => s.account === account && s.region === region)!;

describe('spoke stacks', () => {
  it('adds one spoke stack per configured account-region, in that account and region', () => {
    const { spokes, stack } = sharedApp();
    expect(spokes!.map((s) => `${s.stackName} ${s.account}/${s.region}`)).toEqual([
      `OriginGuard-Spoke-edge-us-east-1 ${EDGE}/us-east-1`,
      `OriginGuard-Spoke-workload-eu-central-1 ${WORKLOAD}/eu-central-1`,
      `OriginGuard-Spoke-workload-eu-west-1 ${WORKLOAD}/eu-west-1`,
    ]);
    expect(stack.account).toBe(HUB);
  });

  it('gives each hub function a named role in a spoke, trusted only by that hub function in the organization', () => {
    const { spokes } = sharedApp();
    const edge = Template.fromStack(spokeOf(spokes, EDGE, 'us-east-1'));
    const roles = edge.findResources('AWS::IAM::Role');
    const rotate = Object.values(roles).find((r) => r.Properties.RoleName === 'OriginGuard-rotate-us-east-1')!;
    expect(rotate.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${HUB}:root`]] } },
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': [`arn:aws:iam::${HUB}:role/OriginGuard-hub-rotate-eu-west-1`, `arn:aws:iam::${HUB}:role/OriginGuard-hub-retire-eu-west-1`] },
          StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' },
        },
      },
    ]);
    const audit = Object.values(roles).find((r) => r.Properties.RoleName === 'OriginGuard-audit-us-east-1')!;
    expect(audit.Properties.AssumeRolePolicyDocument.Statement[0].Condition.ArnEquals['aws:PrincipalArn']).toEqual([`arn:aws:iam::${HUB}:role/OriginGuard-hub-audit-eu-west-1`]);
  });

  it('requires the external id when there is no organization', () => {
    const config = multiAccountConfig((json) => {
      delete json.organizationId;
      json.accounts.edge.externalId = 'edge-ext-1';
      json.accounts.workload.externalId = 'workload-ext-1';
    });
    const { spokes } = synthAll(config);
    const roles = Template.fromStack(spokeOf(spokes, EDGE, 'us-east-1')).findResources('AWS::IAM::Role');
    const rotate = Object.values(roles).find((r) => r.Properties.RoleName === 'OriginGuard-rotate-us-east-1')!;
    expect(rotate.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals).toEqual({ 'sts:ExternalId': 'edge-ext-1' });
  });

  it('grants each spoke role exactly the configured resources of its account-region', () => {
    const config = multiAccountConfig();
    const { spokes } = sharedApp();
    const edge = Template.fromStack(spokeOf(spokes, EDGE, 'us-east-1'));
    const central = Template.fromStack(spokeOf(spokes, WORKLOAD, 'eu-central-1'));
    const west = Template.fromStack(spokeOf(spokes, WORKLOAD, 'eu-west-1'));

    expect(grants(policyStatements(edge, 'RotateRole'))).toEqual(
      ['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig', 'cloudfront:UpdateDistribution'].map((action) => ({
        action,
        resource: `arn:aws:cloudfront::${EDGE}:distribution/E2EXAMPLE1ABC`,
        condition: undefined,
      })),
    );
    const acl = config.secrets[0].validators[0] as { webAclName: string; webAclId: string };
    const centralRotate = grants(policyStatements(central, 'RotateRole'));
    expect(centralRotate.filter((g) => g.action === 'wafv2:GetWebACL').map((g) => g.resource)).toEqual([
      `arn:aws:wafv2:eu-central-1:${WORKLOAD}:regional/webacl/${acl.webAclName}/${acl.webAclId}`,
    ]);
    expect(centralRotate.some((g) => g.action.startsWith('cloudfront:'))).toBe(false);
    // The reconcile target lives in workload's first region (eu-west-1): only that spoke may change its groups.
    const groups = config.ipRanges!.targets[0].securityGroupIds.map((id) => `arn:aws:ec2:eu-west-1:${WORKLOAD}:security-group/${id}`);
    expect(grants(policyStatements(west, 'ReconcileRole')).filter((g) => g.action === 'ec2:AuthorizeSecurityGroupIngress').map((g) => g.resource)).toEqual(groups);
    expect(Object.values(central.findResources('AWS::IAM::Role')).map((r) => r.Properties.RoleName)).not.toContain('OriginGuard-reconcile-eu-central-1');
    expect(Object.values(west.findResources('AWS::IAM::Role')).map((r) => r.Properties.RoleName)).not.toContain('OriginGuard-rotate-eu-west-1');
    // Nothing writes on '*': the only wildcard resources are EC2 Describe* and WAF references.
    for (const t of [edge, central, west]) {
      for (const g of grants(policyStatements(t, ''))) {
        if (g.resource === '*') expect(g.action, g.action).toMatch(/^ec2:Describe/);
      }
    }
  });

  it('forwards audit-triggering CloudTrail calls to the hub bus, which admits the spoke accounts', () => {
    const { spokes, stack } = sharedApp();
    const spoke = Template.fromStack(spokeOf(spokes, WORKLOAD, 'eu-west-1'));
    const bus = `arn:aws:events:eu-west-1:${HUB}:event-bus/default`;
    const rule = Object.values(spoke.findResources('AWS::Events::Rule'))[0]!;
    expect(rule.Properties.EventPattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
    expect(rule.Properties.EventPattern.source).toEqual(expect.arrayContaining(['aws.wafv2', 'aws.ec2']));
    expect(rule.Properties.Targets[0].Arn).toBe(bus);
    expect(grants(policyStatements(spoke, 'ForwardingRole'))).toEqual([{ action: 'events:PutEvents', resource: bus, condition: undefined }]);

    const hub = Template.fromStack(stack);
    hub.hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: 'default',
      Statement: {
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: [`arn:aws:iam::${EDGE}:root`, `arn:aws:iam::${WORKLOAD}:root`] },
        Resource: bus,
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } },
      },
    });
  });

  it('names the hub function roles and lets each assume only its own spoke roles', () => {
    const { stack } = sharedApp();
    const hub = Template.fromStack(stack);
    const names = Object.values(hub.findResources('AWS::IAM::Role')).map((r) => r.Properties.RoleName).filter(Boolean).sort();
    expect(names).toEqual(['OriginGuard-hub-audit-eu-west-1', 'OriginGuard-hub-reconcile-eu-west-1', 'OriginGuard-hub-retire-eu-west-1', 'OriginGuard-hub-rotate-eu-west-1']);
    const assumable = (prefix: string) => grants(policyStatements(hub, prefix)).filter((g) => g.action === 'sts:AssumeRole').map((g) => g.resource).sort();
    const auditRoles = assumable('AuditorAuditFunction');
    expect(auditRoles).toEqual([
      `arn:aws:iam::${EDGE}:role/OriginGuard-audit-us-east-1`,
      `arn:aws:iam::${WORKLOAD}:role/OriginGuard-audit-eu-central-1`,
      `arn:aws:iam::${WORKLOAD}:role/OriginGuard-audit-eu-west-1`,
    ]);
    expect(assumable('ReconcilerReconcileFunction').every((arn) => arn.includes(':role/OriginGuard-reconcile-'))).toBe(true);
  });

  it('grants the hub functions only the items of the hub account and region: the rest goes through spoke roles', () => {
    const { stack } = sharedApp();
    const hub = Template.fromStack(stack);
    const all = grants(policyStatements(hub, ''));
    // The CloudFront sender and the audited distribution live in edge, the WAF validator and the target in workload.
    expect(all.filter((g) => g.action.startsWith('cloudfront:'))).toEqual([]);
    expect(all.filter((g) => g.action === 'ec2:AuthorizeSecurityGroupIngress')).toEqual([]);
    expect(all.filter((g) => g.action === 'wafv2:UpdateWebACL' && g.resource.includes('regional/webacl/'))).toEqual([]);
  });

  it('keeps cdk-nag clean on the hub and every spoke', () => {
    const { app } = sharedApp();
    expect(violations(app)).toEqual([]);
  });

  it('adds the service-managed StackSet targeting the organizational units when spokeStackSet is set', () => {
    const config = multiAccountConfig((json) => {
      json.spokeStackSet = true;
      json.organizationalUnitIds = ['ou-ab12-cdef3456'];
    });
    const { spokeStackSet } = synthAll(config);
    const t = Template.fromStack(spokeStackSet!);
    const set = Object.values(t.findResources('AWS::CloudFormation::StackSet'))[0]!.Properties;
    expect(set).toMatchObject({
      PermissionModel: 'SERVICE_MANAGED',
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      StackInstancesGroup: [{ DeploymentTargets: { OrganizationalUnitIds: ['ou-ab12-cdef3456'] }, Regions: ['us-east-1', 'eu-west-1', 'eu-central-1'] }],
    });
    const body = JSON.parse(set.TemplateBody);
    const roleNames = Object.values(body.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName)
      .map((r) => JSON.stringify(r.Properties.RoleName));
    expect(roleNames).toHaveLength(3);
    expect(roleNames.join()).toContain('OriginGuard-audit-');
    expect(JSON.stringify(body)).toContain('AWS::Region');
    // The StackSet's template passes cdk-nag too.
    const app = new App();
    expect(violations(new SpokeStack(app, 'Generic', { config }))).toEqual([]);
  });

  it('adds a spoke stack for the hub account in its other regions, none in its own', () => {
    const config = multiAccountConfig((json) => {
      json.accounts.hub = { accountId: HUB, regions: ['eu-west-1', 'us-west-2'] };
    });
    const { spokes } = synthAll(config);
    const names = spokes!.map((s) => s.stackName);
    expect(names).toContain('OriginGuard-Spoke-hub-us-west-2');
    expect(names).not.toContain('OriginGuard-Spoke-hub-eu-west-1');
  });

  it('refuses a spoke without hubAccountId or outside its account, naming each problem', () => {
    const config = multiAccountConfig((json) => delete json.hubAccountId);
    let error: unknown;
    try {
      new SpokeStack(new App(), 'S', { config, account: 'edge', env: { account: WORKLOAD, region: 'eu-west-1' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidPropsError);
    expect((error as InvalidPropsError).problems).toEqual([
      'config.hubAccountId is required: spoke roles trust the hub account’s function roles',
      `env.account (${WORKLOAD}) must be ${EDGE} (account "edge")`,
      'env.region (eu-west-1) is not one of account "edge"’s regions',
    ]);
  });
});

describe('the audit fan-out on Step Functions', () => {
  it('maps over every account-region with the configured concurrency, one audit invocation each, on the audit schedule', () => {
    const { stack } = sharedApp();
    const hub = Template.fromStack(stack);
    const machines = hub.findResources('AWS::StepFunctions::StateMachine');
    expect(Object.keys(machines)).toHaveLength(1);
    const parts = Object.values(machines)[0]!.Properties.DefinitionString['Fn::Join'][1] as unknown[];
    const definition = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'AUDIT_FUNCTION_ARN')).join(''));
    expect(definition.States.AccountRegions.Result.items).toEqual([
      { account: '', region: 'eu-west-1' },
      { account: 'edge', region: 'us-east-1' },
      { account: 'workload', region: 'eu-central-1' },
      { account: 'workload', region: 'eu-west-1' },
    ]);
    const map = definition.States.EachAccountRegion;
    expect(map.MaxConcurrency).toBe(8);
    const task = map.ItemProcessor.States.AuditAccountRegion;
    expect(task.Resource).toBe('AUDIT_FUNCTION_ARN');
    expect(task.Parameters).toEqual({ source: 'origin-guard.audit-fan-out', 'account.$': '$.account', 'region.$': '$.region' });
    // A failure of one account-region is caught: the others go on.
    expect(task.Catch[0].ErrorEquals).toEqual(['States.ALL']);
    // The audit's own schedule gives way to the fan-out's; the CloudTrail rule still invokes the audit directly.
    const rules = Object.values(hub.findResources('AWS::Events::Rule'));
    const schedules = rules.filter((r) => r.Properties.ScheduleExpression);
    const enabledTargets = schedules.filter((r) => r.Properties.State !== 'DISABLED').map((r) => JSON.stringify(r.Properties.Targets[0].Arn));
    expect(enabledTargets.filter((t) => t.includes('AuditFanOutStateMachine'))).toHaveLength(1);
    expect(enabledTargets.filter((t) => t.includes('AuditorAuditFunction'))).toEqual([]);
    const disabled = schedules.filter((r) => r.Properties.State === 'DISABLED').map((r) => JSON.stringify(r.Properties.Targets[0].Arn));
    expect(disabled).toEqual([expect.stringContaining('AuditorAuditFunction')]);
  });
});
