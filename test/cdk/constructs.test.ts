import { join } from 'node:path';
import { App, CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { InvalidPropsError } from '../../lib/errors.ts';
import { OriginGuardFunction } from '../../lib/function.ts';
import { OriginGuardStack } from '../../lib/origin-guard-stack.ts';
import { Reconciler } from '../../lib/reconciler.ts';
import { SecretRotation } from '../../lib/rotation.ts';
import { exampleConfig, policyStatements, resourcesFor, STUB_HANDLERS_DIR } from './support.ts';

function problems(make: () => unknown): string[] {
  try {
    make();
  } catch (error) {
    if (error instanceof InvalidPropsError) return error.problems;
    throw error;
  }
  return [];
}

function fixture() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  const alertTopic = new sns.Topic(stack, 'Topic');
  const alertStateTable = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING } });
  return { app, stack, alertTopic, alertStateTable };
}

describe('construct props validation', () => {
  it('OriginGuardFunction lists every problem in one error', () => {
    const { stack, alertTopic, alertStateTable } = fixture();
    const found = problems(
      () =>
        new OriginGuardFunction(stack, 'Fn', {
          entry: join(STUB_HANDLERS_DIR, 'rotate.ts'),
          description: 'test',
          config: exampleConfig(),
          serviceName: 'test',
          alertTopic,
          alertStateTable,
          timeout: Duration.minutes(20),
          memorySize: 64,
          retryAttempts: 5,
        }),
    );
    expect(found).toEqual([
      'timeout must be between 1 second and 15 minutes',
      'memorySize must be an integer between 128 and 10240',
      'retryAttempts must be 0, 1 or 2',
    ]);
  });

  it('SecretRotation needs secrets, Reconciler needs ipRanges', () => {
    const { stack, alertTopic, alertStateTable } = fixture();
    const noSecrets = exampleConfig((json) => (json.secrets = []));
    expect(problems(() => new SecretRotation(stack, 'Rotation', { config: noSecrets, alertTopic, alertStateTable, handlersDir: STUB_HANDLERS_DIR }))).toEqual([
      'config.secrets must list at least one secret',
    ]);
    const noRanges = exampleConfig((json) => delete json.ipRanges);
    expect(problems(() => new Reconciler(stack, 'Reconciler', { config: noRanges, alertTopic, alertStateTable, handlersDir: STUB_HANDLERS_DIR }))).toEqual([
      'config.ipRanges must be set',
    ]);
  });

  it('OriginGuardStack must be deployed in config.region', () => {
    const found = problems(
      () => new OriginGuardStack(new App(), 'OriginGuard', { config: exampleConfig(), env: { region: 'us-west-2' }, handlersDir: STUB_HANDLERS_DIR }),
    );
    expect(found).toEqual(['env.region (us-west-2) must be config.region (eu-west-1)']);
  });

  it('exposes the secrets and grants read access to other principals, one secret at a time', () => {
    const { stack, alertTopic, alertStateTable } = fixture();
    const rotation = new SecretRotation(stack, 'Rotation', { config: exampleConfig(), alertTopic, alertStateTable, handlersDir: STUB_HANDLERS_DIR });
    expect(rotation.secrets.map((s) => s.config.name)).toEqual(['cdn-to-gateway', 'gateway-to-upstream']);
    const kongRole = new iam.Role(stack, 'KongTaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    rotation.grantRead(kongRole, 'gateway-to-upstream');
    const upstreamSecret = stack.getLogicalId(rotation.secrets[1].secret.node.defaultChild as CfnResource);
    const statements = policyStatements(Template.fromStack(stack), 'KongTaskRole');
    expect(resourcesFor(statements, 'secretsmanager:GetSecretValue')).toEqual([`{${upstreamSecret}}`]);
  });
});
