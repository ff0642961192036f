import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT } from '../../lib/alerts.ts';
import { AUDIT_TRIGGER_EVENTS } from '../../lib/auditor.ts';
import { latestNodeRuntime } from '../../lib/function.ts';
import { slowestValidatorWaitSeconds } from '../../lambdas/config.ts';
import { AMAZON_IP_SPACE_CHANGED_TOPIC_ARN } from '../../lib/reconciler.ts';
import { METRIC, METRICS_NAMESPACE, METRIC_SERVICE } from '../../lambdas/core/metric-names.ts';
import { exampleConfig, grants, policyStatements, resourcesFor, synth } from './support.ts';

const ROTATION = 'RotationRotationFunctionRole';
const RETIRE = 'RotationRetireFunctionRole';
const RECONCILE = 'ReconcilerReconcileFunctionRole';
const AUDIT = 'AuditorAuditFunctionRole';

function functions(template: Template) {
  return Object.entries(template.findResources('AWS::Lambda::Function'));
}
function functionByService(template: Template, service: string) {
  const found = functions(template).find(([, r]) => r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === service);
  if (!found) throw new Error(`no function for ${service}`);
  return found;
}

describe('OriginGuardStack with the example configuration', () => {
  let template: Template;
  beforeAll(() => {
    template = synth().template;
  });

  it('creates one resource set per concern', () => {
    template.resourceCountIs('AWS::Lambda::Function', 4);
    // 4 dead-letter queues and the audit's event queue (batches CloudTrail bursts)
    template.resourceCountIs('AWS::SQS::Queue', 5);
    template.resourceCountIs('AWS::Logs::LogGroup', 4);
    template.resourceCountIs('AWS::IAM::Role', 4);
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
    template.resourceCountIs('AWS::KMS::Key', 3);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    // retire, reconcile and audit schedules, CloudTrail changes, rotation failures
    template.resourceCountIs('AWS::Events::Rule', 5);
    // 4 functions × (errors, throttles, dead letters) + rotation failures + rotation error logs
    // 14 for the functions and rotations, plus one verifier-stale alarm for the secret read by upstreams,
    // + handler metrics: critical findings, alerts not sent, targets held, targets failed, rotation steps failed
    // + audit and reconcile schedules not run
    template.resourceCountIs('AWS::CloudWatch::Alarm', 22);
    template.resourceCountIs('AWS::Logs::MetricFilter', 2);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('runs every function on the newest Node.js runtime, ARM64, with its own log group and dead-letter queue', () => {
    expect(latestNodeRuntime().name).toBe('nodejs24.x');
    const list = functions(template);
    expect(list).toHaveLength(4);
    for (const [, fn] of list) {
      const p = fn.Properties;
      expect(p.Runtime).toBe('nodejs24.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.DeadLetterConfig.TargetArn['Fn::GetAtt'][1]).toBe('Arn');
      expect(p.LoggingConfig.LogGroup.Ref).toMatch(/Logs/);
      // The audit also learns which of origin-guard's rules to watch.
      const watched = p.Environment.Variables.POWERTOOLS_SERVICE_NAME === 'origin-guard-audit' ? ['ORIGIN_GUARD_WATCHED_RULES'] : [];
      expect(Object.keys(p.Environment.Variables).sort()).toEqual(
        ['ALERT_STATE_TABLE', 'ALERT_TOPIC_ARN', 'POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_SERVICE_NAME', ...watched].sort(),
      );
      expect(p.Environment.Variables.ALERT_TOPIC_ARN).toEqual({ Ref: expect.stringMatching(/^AlertsTopic/) });
      expect(p.Environment.Variables.ALERT_STATE_TABLE).toEqual({ Ref: expect.stringMatching(/^AlertsStateTable/) });
      // The config is embedded at bundle time, never passed in the environment.
      expect(JSON.stringify(p.Environment)).not.toContain('ORIGIN_GUARD_CONFIG');
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    // Dead-letter queues keep 14 days; the audit's event queue 4 hours (older drift is seen by the schedule).
    const queues = Object.values(template.findResources('AWS::SQS::Queue'));
    expect(queues.every((q) => q.Properties.SqsManagedSseEnabled === true)).toBe(true);
    expect(queues.map((q) => q.Properties.MessageRetentionPeriod).sort()).toEqual([1209600, 1209600, 1209600, 1209600, 14400]);
    // every queue refuses non-TLS requests
    const queuePolicies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    expect(queuePolicies).toHaveLength(5);
    for (const policy of queuePolicies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('serializes rotation and retire by lease, not by reserved concurrency; the reconciler keeps a reserved concurrency of 1', () => {
    expect(functionByService(template, 'origin-guard-reconcile')[1].Properties.ReservedConcurrentExecutions).toBe(1);
    for (const service of ['origin-guard-rotation', 'origin-guard-retire', 'origin-guard-audit']) {
      expect(functionByService(template, service)[1].Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
    // The slowest configured validator wait plus the 180 s margin for read-backs, probes and rollback.
    const slowest = Math.max(...exampleConfig().secrets.map((s) => slowestValidatorWaitSeconds(s)));
    expect(functionByService(template, 'origin-guard-rotation')[1].Properties.Timeout).toBe(slowest + 180);
    expect(functionByService(template, 'origin-guard-retire')[1].Properties.Timeout).toBeLessThan(300);
  });

  it('encrypts the alerts topic with a rotating customer key and refuses non-TLS publishing', () => {
    const keys = template.findResources('AWS::KMS::Key');
    const topic = Object.values(template.findResources('AWS::SNS::Topic'))[0];
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0];
    expect(keys[keyId].Properties.EnableKeyRotation).toBe(true);
    // CloudWatch alarms may use the key and publish.
    expect(keys[keyId].Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
    );
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'security-team@example.com' });
  });

  it('keeps alert state in an on-demand, encrypted table with point-in-time recovery, and outputs both names', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    template.hasOutput(OUTPUT.ALERT_TOPIC_ARN, { Value: { Ref: Match.stringLikeRegexp('^AlertsTopic') } });
    template.hasOutput(OUTPUT.ALERT_STATE_TABLE_NAME, { Value: { Ref: Match.stringLikeRegexp('^AlertsStateTable') } });
    expect(OUTPUT).toEqual({ ALERT_TOPIC_ARN: 'AlertTopicArn', ALERT_STATE_TABLE_NAME: 'AlertStateTableName' });
  });

  it('creates each secret with its own rotating key and a rotation schedule on the rotation function', () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    const keys = template.findResources('AWS::KMS::Key');
    const names = Object.values(secrets).map((s) => s.Properties.Name).sort();
    expect(names).toEqual(['origin-guard/cdn-to-gateway', 'origin-guard/gateway-to-upstream']);
    for (const secret of Object.values(secrets)) {
      const keyId = secret.Properties.KmsKeyId['Fn::GetAtt'][0];
      expect(keys[keyId].Properties.EnableKeyRotation).toBe(true);
      expect(secret.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true });
    }
    const [rotationId] = functionByService(template, 'origin-guard-rotation');
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(schedules).toHaveLength(2);
    for (const schedule of schedules) {
      expect(schedule.Properties.RotationRules.ScheduleExpression).toBe('rate(30 days)');
      expect(schedule.Properties.RotationLambdaARN).toEqual({ 'Fn::GetAtt': [rotationId, 'Arn'] });
      // The first rotation is the operator's decision (`origin-guard rotate`), not a side effect of deploying.
      expect(schedule.Properties.RotateImmediatelyOnUpdate).toBe(false);
    }
  });

  it('schedules retire every 5 minutes, reconcile every ipRanges.scheduleMinutes and audit every audit.scheduleMinutes', () => {
    const byTarget = (service: string) => {
      const [id] = functionByService(template, service);
      return Object.values(template.findResources('AWS::Events::Rule')).filter(
        (r) => r.Properties.ScheduleExpression && r.Properties.Targets.some((t: any) => t.Arn['Fn::GetAtt']?.[0] === id),
      );
    };
    expect(byTarget('origin-guard-retire').map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(5 minutes)']);
    expect(byTarget('origin-guard-reconcile').map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 hour)']);
    expect(byTarget('origin-guard-audit').map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(15 minutes)']);
    for (const service of ['origin-guard-retire', 'origin-guard-reconcile', 'origin-guard-audit']) {
      for (const rule of byTarget(service)) {
        expect(rule.Properties.Targets[0].DeadLetterConfig.Arn['Fn::GetAtt'][0]).toMatch(/DeadLetterQueue/);
        expect(rule.Properties.Targets[0].RetryPolicy.MaximumRetryAttempts).toBe(2);
      }
    }
  });

  it('runs the audit on the CloudTrail API calls that cause drift', () => {
    const [auditId] = functionByService(template, 'origin-guard-audit');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: Object.keys(AUDIT_TRIGGER_EVENTS),
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventName: Match.arrayWith([
            'UpdateDistribution',
            'UpdateWebACL',
            'DisassociateWebACL',
            'AuthorizeSecurityGroupIngress',
            'RevokeSecurityGroupIngress',
            'ModifySecurityGroupRules',
            'DeleteVpcPeeringConnection',
            'CreateRoute',
            'ReplaceRoute',
            'DeleteRoute',
          ]),
          errorCode: [{ exists: false }],
        },
      },
      // Through the audit queue: its batching window turns a burst into one audit per account and region.
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('EventQueue'), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: auditId },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('EventQueue'), 'Arn'] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 30,
    });
    const rule = Object.values(template.findResources('AWS::Events::Rule')).find((r) => r.Properties.EventPattern?.['detail-type']?.[0] === 'AWS API Call via CloudTrail');
    expect(rule!.Properties.EventPattern.detail.eventName).toEqual(Object.values(AUDIT_TRIGGER_EVENTS).flat());
  });

  it('subscribes the reconciler to AmazonIpSpaceChanged across regions', () => {
    const [reconcileId] = functionByService(template, 'origin-guard-reconcile');
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: AMAZON_IP_SPACE_CHANGED_TOPIC_ARN,
      Endpoint: { 'Fn::GetAtt': [reconcileId, 'Arn'] },
      // The topic lives in us-east-1; the stack in eu-west-1.
      Region: 'us-east-1',
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'sns.amazonaws.com',
      SourceArn: AMAZON_IP_SPACE_CHANGED_TOPIC_ARN,
      FunctionName: { 'Fn::GetAtt': [reconcileId, 'Arn'] },
    });
  });

  it('limits the rotation to the configured secrets, distribution and web ACL', () => {
    const rotation = policyStatements(template, ROTATION);
    const distribution = 'arn:{AWS::Partition}:cloudfront::{AWS::AccountId}:distribution/E2EXAMPLE1ABC';
    const acl = 'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/webacl/gateway-acl/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';
    for (const action of ['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig', 'cloudfront:UpdateDistribution']) {
      expect(resourcesFor(rotation, action)).toEqual([distribution]);
    }
    expect(resourcesFor(rotation, 'wafv2:GetWebACL')).toEqual([acl]);
    // Sorted: cdk.json's feature flags change the order CDK merges statements in, not the grants.
    expect(resourcesFor(rotation, 'wafv2:UpdateWebACL').sort()).toEqual([
      acl,
      'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/managedruleset/*/*',
      'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/rulegroup/*/*',
      'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/ipset/*/*',
      'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/regexpatternset/*/*',
    ].sort());
    for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:TagResource']) {
      expect(resourcesFor(rotation, action).sort()).toEqual([
        '{RotationcdntogatewaySecret19D6BD37}',
        '{RotationgatewaytoupstreamSecret9B6B36B4}',
      ]);
    }
    // The Kong admin token, by name, for the kong-route validator.
    expect(resourcesFor(rotation, 'secretsmanager:GetSecretValue')).toContain(
      'arn:{AWS::Partition}:secretsmanager:eu-west-1:{AWS::AccountId}:secret:kong/admin-token-??????',
    );
    // sns:Publish on the topic; the topic key with exactly the two actions SNS needs.
    expect(resourcesFor(rotation, 'sns:Publish')).toEqual(['{AlertsTopicCF7C81C9}']);
    expect(resourcesFor(rotation, 'kms:GenerateDataKey')).toEqual(['{AlertsTopicKey4FD54A73.Arn}']);
    // Retire reads and updates validators but never changes a distribution or writes a value.
    const retire = policyStatements(template, RETIRE);
    expect(resourcesFor(retire, 'cloudfront:UpdateDistribution')).toEqual([]);
    expect(resourcesFor(retire, 'secretsmanager:PutSecretValue')).toEqual([]);
    expect(resourcesFor(retire, 'wafv2:UpdateWebACL')).toContain(acl);
  });

  it('uses * as a resource only where an action has no resource-level permissions', () => {
    const wildcardActions = (prefix: string) =>
      grants(policyStatements(template, prefix))
        .filter((g) => g.resource === '*')
        .map((g) => g.action)
        .sort();
    expect(wildcardActions(ROTATION)).toEqual(['secretsmanager:GetRandomPassword']);
    expect(wildcardActions(RETIRE)).toEqual([]);
    expect(wildcardActions(RECONCILE).every((a) => a.startsWith('ec2:Describe'))).toBe(true);
    expect(wildcardActions(AUDIT).every((a) => a.startsWith('ec2:Describe') || a === 'elasticloadbalancing:DescribeLoadBalancers')).toBe(true);
    for (const prefix of [ROTATION, RETIRE, RECONCILE, AUDIT]) {
      const actions = grants(policyStatements(template, prefix)).map((g) => g.action);
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    }
  });

  it('lets the reconciler change only the listed security groups and tag them with origin-guard keys', () => {
    const reconcile = policyStatements(template, RECONCILE);
    const groups = ['sg-0a1b2c3d4e5f60001', 'sg-0a1b2c3d4e5f60002', 'sg-0a1b2c3d4e5f60003'].map(
      (id) => `arn:{AWS::Partition}:ec2:eu-west-1:{AWS::AccountId}:security-group/${id}`,
    );
    for (const action of ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'ec2:CreateTags']) {
      expect(resourcesFor(reconcile, action)).toEqual(groups);
    }
    const tagging = grants(reconcile).find((g) => g.action === 'ec2:CreateTags');
    expect(tagging?.condition).toEqual({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['origin-guard:*'] } });
    expect(resourcesFor(reconcile, 'secretsmanager:GetSecretValue')).toEqual([
      'arn:{AWS::Partition}:secretsmanager:eu-west-1:{AWS::AccountId}:secret:konnect/token-??????',
    ]);
  });

  it('lets the audit read the prefix lists of prefix-list targets, as its reconcile dry run does', () => {
    const listIds = ['pl-0a1b2c3d4e5f60001', 'pl-0a1b2c3d4e5f60002'];
    const { app, template: withLists } = synth(
      exampleConfig((json) => {
        json.ipRanges.targets[0].mode = 'prefix-list';
        json.ipRanges.targets[0].prefixListIds = listIds;
      }),
    );
    const audit = policyStatements(withLists, AUDIT);
    // Compared as sets: the policy's order follows CDK's statement merging (feature flags change it).
    expect([...resourcesFor(audit, 'ec2:GetManagedPrefixListEntries')].sort()).toEqual(
      [
        ...listIds.map((id) => `arn:{AWS::Partition}:ec2:eu-west-1:{AWS::AccountId}:prefix-list/${id}`),
        // The prefix lists audited groups reference: this account's and AWS-managed ones (audit.origins, sg.broad-ingress).
        'arn:{AWS::Partition}:ec2:eu-west-1:{AWS::AccountId}:prefix-list/*',
        'arn:{AWS::Partition}:ec2:eu-west-1:aws:prefix-list/*',
      ].sort(),
    );
    expect(resourcesFor(audit, 'ec2:DescribeManagedPrefixLists')).toEqual(['*']);
    // The acknowledged wildcard says why DescribeManagedPrefixLists is on *.
    const reasons = app.node
      .findAll()
      .filter((c) => c.node.path === 'OriginGuard/Auditor/AuditFunction/Role/DefaultPolicy')
      .flatMap((c) => c.node.metadata.map((m) => JSON.stringify(m.data)));
    expect(reasons.join(' ')).toMatch(/DescribeManagedPrefixLists/);
    // Without prefix-list targets, only the entries of lists the audited groups reference are read (this
    // account's and AWS-managed); the lists that rules reference are described (MaxEntries against the quota).
    expect(resourcesFor(policyStatements(template, AUDIT), 'ec2:GetManagedPrefixListEntries')).toEqual([
      'arn:{AWS::Partition}:ec2:eu-west-1:{AWS::AccountId}:prefix-list/*',
      'arn:{AWS::Partition}:ec2:eu-west-1:aws:prefix-list/*',
    ]);
    expect(resourcesFor(policyStatements(template, AUDIT), 'ec2:DescribeManagedPrefixLists')).toEqual(['*']);
    expect(resourcesFor(policyStatements(template, RECONCILE), 'ec2:DescribeManagedPrefixLists')).toEqual(['*']);
  });

  it('lets the audit and the reconciler use the alert-state table with the three actions it calls; rotation and retire only its lease items', () => {
    for (const prefix of [ROTATION, RETIRE]) {
      const leases = grants(policyStatements(template, prefix)).filter((g) => g.action.startsWith('dynamodb:'));
      expect(leases.map((g) => g.action).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
      for (const grant of leases) {
        expect(grant.resource).toBe('{AlertsStateTableBA462A51.Arn}');
        expect(grant.condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lease:secret:*'] } });
      }
    }
    for (const prefix of [AUDIT, RECONCILE]) {
      const table = grants(policyStatements(template, prefix)).filter((g) => g.action.startsWith('dynamodb:'));
      // The reconciler also takes its per-target lease in the table (get, conditional put/update/delete).
      // The audit releases its lease per account-region (DeleteItem) and removes the states of removed items (Scan, DeleteItem).
      const lease = prefix === RECONCILE ? ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'] : ['dynamodb:DeleteItem', 'dynamodb:Scan'];
      expect(table.map((g) => g.action).sort()).toEqual(['dynamodb:BatchGetItem', 'dynamodb:DescribeTable', 'dynamodb:PutItem', ...lease].sort());
      expect(new Set(table.map((g) => g.resource))).toEqual(new Set(['{AlertsStateTableBA462A51.Arn}']));
    }

  });

  it('lets only the rotation, retire and audit functions read the origin-verify secrets', () => {
    const readers = (secretRef: string) =>
      [ROTATION, RETIRE, RECONCILE, AUDIT].filter((prefix) => resourcesFor(policyStatements(template, prefix), 'secretsmanager:GetSecretValue').includes(secretRef));
    expect(readers('{RotationcdntogatewaySecret19D6BD37}')).toEqual([ROTATION, RETIRE, AUDIT]);
    expect(readers('{RotationgatewaytoupstreamSecret9B6B36B4}')).toEqual([ROTATION, RETIRE, AUDIT]);
    // The audit only reads what it audits; it writes only its logs, dead letters, alerts and alert state.
    const auditActions = grants(policyStatements(template, AUDIT)).map((g) => g.action);
    const onAudited = auditActions.filter((a) => !/^(logs|sqs|sns|dynamodb|kms):/.test(a));
    expect(onAudited.filter((a) => !/:(Get|Describe|List)/.test(a))).toEqual([]);
  });

  it('audits the configured web ACLs read-only, including the CLOUDFRONT one in us-east-1', () => {
    const audit = policyStatements(template, AUDIT);
    expect(resourcesFor(audit, 'wafv2:GetWebACL')).toEqual([
      'arn:{AWS::Partition}:wafv2:eu-west-1:{AWS::AccountId}:regional/webacl/gateway-acl/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
      'arn:{AWS::Partition}:wafv2:us-east-1:{AWS::AccountId}:global/webacl/cdn-acl/b2c3d4e5-6789-01bc-def0-EXAMPLE22222',
    ]);
    expect(resourcesFor(audit, 'wafv2:ListWebACLs')).toEqual([]);
    expect(resourcesFor(audit, 'wafv2:GetWebACLForResource')).toContain(
      'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/gateway-alb/50dc6c495c0c9188',
    );
  });

  it('alarms on errors, throttles and dead letters of every function, and on unfinished rotations, notifying the topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(12);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlertsTopic/) }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: expect.stringMatching(/^AlertsTopic/) }]);
      if (alarm.Properties.MetricName !== 'VerifierRefreshAgeSeconds') expect(alarm.Properties.Threshold).toBe(1);
    }
    // Upstream verifiers that stop refreshing: the alarm the rotation reads before it starts.
    const stale = alarms.filter((a) => a.Properties.MetricName === 'VerifierRefreshAgeSeconds');
    expect(stale).toHaveLength(1);
    expect(stale[0]!.Properties).toMatchObject({
      AlarmName: 'origin-guard-verifier-stale-gateway-to-upstream',
      Namespace: 'OriginGuard',
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(stale[0]!.Properties.Threshold).toBeGreaterThanOrEqual(60);
    expect(grants(policyStatements(template, ROTATION)).filter((g) => g.action === 'cloudwatch:DescribeAlarms')).toHaveLength(1);
    const metric = (name: string) => alarms.filter((a) => a.Properties.MetricName === name);
    expect(metric('Errors')).toHaveLength(4);
    expect(metric('Throttles')).toHaveLength(4);
    expect(metric('ApproximateNumberOfMessagesVisible')).toHaveLength(4);
    for (const [id] of functions(template)) {
      expect(metric('Errors').some((a) => a.Properties.Dimensions[0].Value.Ref === id)).toBe(true);
    }
    // Rotation failures; the audit and reconcile schedules have their own (breaching on missing data).
    const failures = metric('TriggeredRules').filter((a) => a.Properties.TreatMissingData !== 'breaching');
    expect(failures).toHaveLength(1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail'],
        detail: { eventName: ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'] },
      },
    });
    expect(metric('RotationErrorLogs')).toHaveLength(1);
    template.allResourcesProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.level = "ERROR" }' });
  });

  it('alarms on and graphs the metrics the handlers emit (Powertools EMF: namespace OriginGuard, dimension service)', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const appAlarm = (name: string) =>
      alarms.filter((a) => a.Properties.Namespace === METRICS_NAMESPACE && a.Properties.MetricName === name).map((a) => a.Properties.Dimensions);
    expect(appAlarm(METRIC.findingsFailedCritical)).toEqual([[{ Name: 'service', Value: METRIC_SERVICE.audit }]]);
    expect(appAlarm(METRIC.alertsNotSent)).toEqual([[{ Name: 'service', Value: METRIC_SERVICE.audit }]]);
    expect(appAlarm(METRIC.targetsHeld)).toEqual([[{ Name: 'service', Value: METRIC_SERVICE.reconcile }]]);
    expect(appAlarm(METRIC.targetsFailed)).toEqual([[{ Name: 'service', Value: METRIC_SERVICE.reconcile }]]);
    expect(appAlarm(METRIC.rotationStepsFailed)).toEqual([[{ Name: 'service', Value: METRIC_SERVICE.rotation }]]);

    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    const graphed = (service: string, name: string) => body.includes(`\\"${METRICS_NAMESPACE}\\",\\"${name}\\",\\"service\\",\\"${service}\\"`);
    for (const name of [METRIC.findingsFailedCritical, METRIC.findingsFailedHigh, METRIC.findingsFailedMedium, METRIC.findingsFailedLow, METRIC.alertsSent]) {
      expect(graphed(METRIC_SERVICE.audit, name), name).toBe(true);
    }
    for (const name of [METRIC.rulesAdded, METRIC.rulesRemoved, METRIC.targetsHeld]) expect(graphed(METRIC_SERVICE.reconcile, name), name).toBe(true);
    for (const name of [METRIC.rotationStepDuration, METRIC.rotationsCompleted]) expect(graphed(METRIC_SERVICE.rotation, name), name).toBe(true);
    expect(graphed(METRIC_SERVICE.retire, METRIC.overlapsClosed)).toBe(true);
    expect(graphed(METRIC_SERVICE.audit, 'NoSuchMetric')).toBe(false);
  });
});

describe('OriginGuardStack variants', () => {
  it('creates the posture report bucket of report.bucket (private, encrypted, TLS-only, versioned) and lets only the audit write the page', () => {
    const { template } = synth(exampleConfig((json) => void (json.report = { bucket: 'example-origin-guard-posture', key: 'pages/posture.html' })));

    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'example-origin-guard-posture',
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const writers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('s3:PutObject'),
    );
    expect(writers.map(([id]) => id)).toEqual([expect.stringMatching(new RegExp(`^${AUDIT}`))]);
    const put = resourcesFor(policyStatements(template, AUDIT), 's3:PutObject');
    expect(JSON.stringify(put)).toContain('/pages/posture.html');
    expect(resourcesFor(policyStatements(template, AUDIT), 's3:GetObject')).toEqual([]);
  });

  it('creates no bucket without report.bucket', () => {
    synth().template.resourceCountIs('AWS::S3::Bucket', 0);
  });

  it('uses an existing topic and table when the config names them, and outputs them', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:security-alerts';
    const { template } = synth(
      exampleConfig((json) => {
        json.alerts.topicArn = topicArn;
        json.alerts.stateTableName = 'security-alert-state';
      }),
    );
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::KMS::Key', 2);
    template.hasOutput(OUTPUT.ALERT_TOPIC_ARN, { Value: topicArn });
    template.hasOutput(OUTPUT.ALERT_STATE_TABLE_NAME, { Value: 'security-alert-state' });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(12);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topicArn]);
    }
    const publish = resourcesFor(policyStatements(template, AUDIT), 'sns:Publish');
    expect(publish).toEqual([topicArn]);
  });

  it('leaves out the reconciler without ipRanges and the rotation without secrets', () => {
    const { template } = synth(
      exampleConfig((json) => {
        delete json.ipRanges;
        json.secrets = [];
      }),
    );
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // audit errors, throttles, dead letters, its schedule not run, critical findings, alerts not sent
    template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    expect(Object.values(template.findResources('AWS::SNS::Subscription')).map((s) => s.Properties.Protocol)).toEqual(['email']);
  });

  it('follows the configured schedules and CLOUDFRONT-scope web ACLs', () => {
    const { template } = synth(
      exampleConfig((json) => {
        json.ipRanges.scheduleMinutes = 30;
        json.audit.scheduleMinutes = 5;
        json.secrets[0].rotationDays = 7;
        json.secrets[0].validators[0].scope = 'CLOUDFRONT';
      }),
    );
    const expressions = Object.values(template.findResources('AWS::Events::Rule')).map((r) => r.Properties.ScheduleExpression).filter(Boolean).sort();
    expect(expressions).toEqual(['rate(30 minutes)', 'rate(5 minutes)', 'rate(5 minutes)']);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(7 days)' } });
    // CLOUDFRONT scope: the web ACL and the resources it references are in us-east-1, under global/.
    const update = resourcesFor(policyStatements(template, ROTATION), 'wafv2:UpdateWebACL');
    expect(update[0]).toBe('arn:{AWS::Partition}:wafv2:us-east-1:{AWS::AccountId}:global/webacl/gateway-acl/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111');
    expect(update.slice(1).every((arn) => arn.includes(':wafv2:us-east-1:') && arn.includes(':global/'))).toBe(true);
  });
});
