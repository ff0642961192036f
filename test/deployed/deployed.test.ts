/**
 * The deployed path: the bundles of the cloud assembly (what `cdk deploy` uploads), each run in its own Node
 * process as the Lambda runtime runs it, with its synthesized environment resolved to emulator resources, fed
 * the event shapes AWS documents, and every AWS call it makes checked against its role's policies from the
 * template. The emulator cannot run Lambdas or deliver events, so the test plays Secrets Manager, EventBridge
 * and SNS.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetDistributionConfigCommand } from '@aws-sdk/client-cloudfront';
import { AuthorizeSecurityGroupIngressCommand, DescribeSecurityGroupRulesCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetWebACLCommand } from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../cli/context.ts';
import { makeAdoptCommand, makeRotateCommand } from '../../cli/rotate.ts';
import { seedAccount, type SeededAccount } from '../../cli/seed.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { parseConfig } from '../../lambdas/config.ts';
import { build } from 'esbuild';
import { bundlingSettings, DEFAULT_HANDLERS_DIR, EMBEDDED_CONFIG_EXPRESSION, HANDLER_SDK_CLIENTS, PROJECT_ROOT } from '../../lib/function.ts';
import { emulatorClientConfig, motoEndpoint } from '../support/aws.ts';
import { startFakeKong, type FakeKong } from '../support/fake-kong.ts';
import { invokeBundle, type Invocation, type InvokeOptions } from './support/deployed-lambda.ts';
import { ACCOUNT, synthesizeAssembly, templateResolver, type Assembly, type DeployedFunction } from './support/deployed-world.ts';
import { evaluate, grantedActions, iamRequestsOf, isWriteAction, type Decision } from './support/iam-check.ts';
import { startRecordingProxy, type RecordedCall, type RecordingProxy } from './support/recording-proxy.ts';

const REGION = 'eu-west-1';
/** For scenarios of many invocations in a row: each is a Node process start (a few seconds on a loaded 2-core machine). */
const SEQUENCE_TIMEOUT = { timeout: 150_000 };
const clients = allAwsClients(emulatorClientConfig(REGION));
const sqs = new SQSClient(emulatorClientConfig(REGION));

/**
 * Granted write actions that no scenario here makes, each with the reason it stays granted. Any other granted
 * write action that no scenario uses fails the test: it is either dead privilege or an untested path.
 */
const UNUSED_WRITES_WITH_REASON: Record<string, string> = {
  // Every function (lib/function.ts):
  'logs:CreateLogStream': "used by the Lambda service on the function's behalf (its logs), not by the bundle",
  'logs:PutLogEvents': "used by the Lambda service on the function's behalf (its logs), not by the bundle",
  'sqs:SendMessage': "the dead-letter queue: the Lambda service sends failed asynchronous events with the function's role",
  'kms:GenerateDataKey': "SNS calls it with the publisher's identity to encrypt a message for the KMS-encrypted topic",
  'kms:Decrypt': "SNS (topic key) and Secrets Manager (secret key) decrypt with the caller's identity; not a call of the bundle",
  // Per function:
  'origin-guard-rotation/secretsmanager:GetRandomPassword': "added by CDK's rotation schedule (Secret.addRotationSchedule); origin-guard makes values with node:crypto",
  'origin-guard-rotation/sns:Publish': 'alerts a failed step after its rollback; the failure paths are played in-process by test/integration/rotation.test.ts',
  'origin-guard-retire/sns:Publish': 'granted to every function by OriginGuardFunction; retire reports through its Errors alarm and the audit (dead privilege, left for issue owners)',
  'origin-guard-retire/secretsmanager:TagResource': 'in the shared rotation-state grant (lib/rotation.ts); retire only removes overlap tags (dead privilege)',
  'origin-guard-retire/secretsmanager:UpdateSecretVersionStage': 'in the retire grant (lib/rotation.ts); the retire path played here never moves a stage (dead privilege unless a rollback needs it)',
  'origin-guard-rotation/dynamodb:UpdateItem': "extends the secret lease (LeasePort extend) on a run longer than the lease; lease behaviour is tested against the emulator in test/integration (DynamoDbLeases)",
  'origin-guard-retire/dynamodb:UpdateItem': "extends the secret lease (LeasePort extend) on a run longer than the lease; lease behaviour is tested against the emulator in test/integration (DynamoDbLeases)",
  'origin-guard-reconcile/dynamodb:UpdateItem': "extends the reconcile lease per target (LeasePort extend) on a long run; lease behaviour is tested against the emulator in test/integration (DynamoDbLeases)",
  'origin-guard-reconcile/ec2:ModifySecurityGroupRules': 'adoption rewrites the description of an identical hand-made rule (issue 12); played in-process by the reconcile integration tests, not on this seeded account',
  'origin-guard-audit/sqs:ReceiveMessage': "granted by the SQS event source: Lambda's event source mapping polls the audit queue with the function's role, not the bundle",
  'origin-guard-audit/sqs:DeleteMessage': "granted by the SQS event source: Lambda's event source mapping deletes a processed batch with the function's role, not the bundle",
  'origin-guard-audit/sqs:ChangeMessageVisibility': "granted by the SQS event source: Lambda's event source mapping returns a failed batch with the function's role, not the bundle",
  'origin-guard-reconcile/ec2:DeleteTags': 'removes its own origin-guard:* tags when a group leaves a target (not played here)',
};

let kong: FakeKong;
let proxy: RecordingProxy;
let seeded: SeededAccount;
let assembly: Assembly;
let outdir: string;
let resolve: (v: unknown) => any;
let queueUrl: string;
const secretArns = new Map<string, string>();
const invocations: Invocation[] = [];
const eventsRun = new Map<string, number>();

function fn(service: string): DeployedFunction {
  const found = assembly.functions.find((f) => f.serviceName === `origin-guard-${service}`);
  if (!found) throw new Error(`no function origin-guard-${service} in the template (have ${assembly.functions.map((f) => f.serviceName).join(', ')})`);
  return found;
}

async function invoke(service: string, event: unknown, options: InvokeOptions = {}): Promise<Invocation> {
  const f = fn(service);
  const invocation = await invokeBundle(f, event, { proxy, resolve, region: REGION }, options);
  invocations.push(invocation);
  eventsRun.set(f.serviceName, (eventsRun.get(f.serviceName) ?? 0) + 1);
  return invocation;
}

const writesOf = (i: Invocation) => i.calls.filter((c) => isWriteAction(`${c.service}:${c.action}`));
/** A write of a lease item (`lease:*` in the state table): a writer takes and releases it on every run. */
const isLeaseWrite = (c: RecordedCall) => c.service === 'dynamodb' && String(c.params.Item?.id?.S ?? c.params.Key?.id?.S ?? '').startsWith('lease:');

async function newMessages(): Promise<Array<{ subject?: string; message: string }>> {
  const received: Array<{ subject?: string; message: string }> = [];
  for (let round = 0; round < 20; round += 1) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (Messages.length === 0) break;
    for (const m of Messages) {
      const envelope = JSON.parse(m.Body!) as { Subject?: string; Message: string };
      received.push({ subject: envelope.Subject, message: envelope.Message });
    }
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
  return received;
}

// ---- Event shapes, as AWS documents them ----

/** EventBridge "Scheduled Event" (docs: EventBridge User Guide, "Creating a rule that runs on a schedule"). */
const scheduledEvent = (ruleName: string) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: ACCOUNT,
  time: new Date().toISOString(),
  region: REGION,
  resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/${ruleName}`],
  detail: {},
});

/** "AWS API Call via CloudTrail" (docs: EventBridge, events from AWS services via CloudTrail). */
const cloudTrailEvent = (source: string, eventSource: string, eventName: string, requestParameters: unknown, options: { errorCode?: string; region?: string } = {}) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'AWS API Call via CloudTrail',
  source,
  account: ACCOUNT,
  time: new Date().toISOString(),
  region: options.region ?? REGION,
  resources: [],
  detail: {
    eventVersion: '1.09',
    userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLE:operator', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/operator`, accountId: ACCOUNT },
    eventTime: new Date().toISOString(),
    eventSource,
    eventName,
    awsRegion: options.region ?? REGION,
    sourceIPAddress: '198.51.100.7',
    userAgent: 'aws-cli/2.17.0',
    requestParameters,
    responseElements: options.errorCode ? null : { _return: true },
    ...(options.errorCode ? { errorCode: options.errorCode, errorMessage: 'You are not authorized to perform this operation.' } : {}),
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
  },
});

/** Secrets Manager's "RotationFailed" / "RotationAbandoned" (docs: Secrets Manager, "Match events with EventBridge"). */
const rotationServiceEvent = (eventName: 'RotationFailed' | 'RotationAbandoned', secretArn: string) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'AWS Service Event via CloudTrail',
  source: 'aws.secretsmanager',
  account: ACCOUNT,
  time: new Date().toISOString(),
  region: REGION,
  resources: [],
  detail: {
    eventVersion: '1.08',
    userIdentity: { accountId: ACCOUNT, invokedBy: 'secretsmanager.amazonaws.com' },
    eventTime: new Date().toISOString(),
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    awsRegion: REGION,
    sourceIPAddress: 'secretsmanager.amazonaws.com',
    userAgent: 'secretsmanager.amazonaws.com',
    requestParameters: null,
    responseElements: null,
    additionalEventData: { SecretId: secretArn },
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsServiceEvent',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    serviceEventDetails: { errorMessage: 'The rotation Lambda failed to run testSecret' },
    eventCategory: 'Management',
  },
});

/** The AmazonIpSpaceChanged SNS notification as Lambda receives it (docs: "AWS IP address ranges", SNS event). */
const ipSpaceChanged = (message: Record<string, string> | string) => ({
  Records: [
    {
      EventVersion: '1.0',
      EventSubscriptionArn: 'arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged:4e2a5c6d-1111-2222-3333-444455556666',
      EventSource: 'aws:sns',
      Sns: {
        SignatureVersion: '1',
        Timestamp: new Date().toISOString(),
        Signature: 'EXAMPLE',
        SigningCertUrl: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem',
        MessageId: randomUUID(),
        Message: typeof message === 'string' ? message : JSON.stringify(message),
        MessageAttributes: {},
        Type: 'Notification',
        UnsubscribeUrl: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe',
        TopicArn: 'arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged',
        Subject: null,
      },
    },
  ],
});

/** A Secrets Manager rotation invocation (docs: "Rotation by Lambda function", the four steps). */
const rotationEvent = (step: string, secretArn: string, token: string) => ({ Step: step, SecretId: secretArn, ClientRequestToken: token, RotationToken: randomUUID() });

// ---- The ip-ranges.json the AWS source reads (a file URL: the bundle reads it as it would read AWS's) ----
let feedDir: string;
const feedUrl = () => pathToFileURL(join(feedDir, 'ip-ranges.json')).href;
function publishFeed(syncToken: string, prefixes: string[]): { body: string; md5: string } {
  const body = JSON.stringify({
    syncToken,
    createDate: new Date(Number(syncToken) * 1000).toISOString().replace('T', '-').replace(/:/g, '-').slice(0, 19),
    prefixes: prefixes.map((p) => ({ ip_prefix: p, region: 'GLOBAL', service: 'CLOUDFRONT_ORIGIN_FACING', network_border_group: 'GLOBAL' })),
    ipv6_prefixes: [],
  });
  writeFileSync(join(feedDir, 'ip-ranges.json'), body);
  return { body, md5: createHash('md5').update(body).digest('hex') };
}

async function ingressCidrs(groupId: string, port: number): Promise<string[]> {
  const { SecurityGroupRules = [] } = await clients.ec2().send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return SecurityGroupRules.filter((r) => !r.IsEgress && r.FromPort === port && r.CidrIpv4)
    .map((r) => r.CidrIpv4!)
    .sort();
}

async function secretValue(secretId: string, stage: string): Promise<string | undefined> {
  try {
    return (await clients.secretsManager().send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }))).SecretString;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  const suffix = randomBytes(3).toString('hex');
  feedDir = mkdtempSync(join(tmpdir(), 'og-feed-'));
  publishFeed('1700000000', ['13.32.0.0/15', '52.46.0.0/18']);
  kong = await startFakeKong({ adminToken: 'deployed-kong-token' });
  proxy = await startRecordingProxy(motoEndpoint());
  seeded = await seedAccount(clients, {
    suffix,
    kongAdminUrl: kong.url,
    kongAdminToken: 'deployed-kong-token',
    ipRangeSources: [{ type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url: feedUrl() } as any],
  });
  kong.addRoute({ name: 'api', paths: ['/api'], hosts: ['api.example.com'], headers: { 'X-Origin-Verify': [seeded.initialValues.cdnToGateway] } });

  // The stack creates its own topic and table: synthesize without the seeded ones in the config, so the
  // functions can only find them through the environment the template gives them.
  const json = JSON.parse(JSON.stringify(seeded.config));
  delete json.alerts.topicArn;
  delete json.alerts.stateTableName;
  const names = [...json.secrets.map((s: { secretName: string }) => s.secretName), `kong/admin-token-${suffix}`, `konnect/token-${suffix}`];
  for (const name of names) {
    const described = await clients.secretsManager().send(new DescribeSecretCommand({ SecretId: name }));
    secretArns.set(name, described.ARN!);
  }
  // A redeploy after `cdk destroy` (README): the first secret was retained and is adopted by its ARN, the second
  // is created by the stack. The key ARN stands for the retained key (the emulator's secrets use none).
  json.secrets[0].adoptRetained = { secretArn: secretArns.get(json.secrets[0].secretName), kmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${randomUUID()}` };
  const config = parseConfig(json, 'the deployed test configuration');
  outdir = mkdtempSync(join(tmpdir(), 'og-assembly-'));
  assembly = synthesizeAssembly(config, outdir);
  resolve = templateResolver(assembly.template, { region: REGION, topicArn: seeded.topicArn, tableName: seeded.stateTableName, secretArns });

  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `og-deployed-${suffix}` }));
  queueUrl = queue.QueueUrl!;
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  await clients.sns().send(new SubscribeCommand({ TopicArn: seeded.topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn! }));
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([kong?.close(), proxy?.close()]);
  if (outdir) rmSync(outdir, { recursive: true, force: true });
  if (feedDir) rmSync(feedDir, { recursive: true, force: true });
});

const secretArn = (id: string) => (id.startsWith('arn:') ? id : (secretArns.get(id) ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-XXXXXX`));
const secretOf = (name: 'cdn-to-gateway' | 'gateway-to-upstream') => secretArns.get(seeded.config.secrets.find((s) => s.name === name)!.secretName)!;

describe('the deployed bundles (cloud assembly, one process per invocation, on the emulator)', () => {
  it('adopts the retained secret by its ARN (no secret of that name in the template) and creates the other', () => {
    const created = Object.values(assembly.template.Resources)
      .filter((r) => r.Type === 'AWS::SecretsManager::Secret')
      .map((r) => r.Properties?.Name);
    expect(created).toEqual([seeded.config.secrets[1].secretName]);
    const schedules = Object.values(assembly.template.Resources).filter((r) => r.Type === 'AWS::SecretsManager::RotationSchedule');
    expect(schedules.map((r) => resolve(r.Properties?.SecretId)).sort()).toEqual([secretOf('cdn-to-gateway'), secretOf('gateway-to-upstream')].sort());
  });

  it('synthesizes one bundle per function from the cloud assembly, each with its timeout and environment', () => {
    expect(assembly.functions.map((f) => f.serviceName).sort()).toEqual(['origin-guard-audit', 'origin-guard-reconcile', 'origin-guard-retire', 'origin-guard-rotation']);
    for (const f of assembly.functions) {
      expect(f.assetDir.startsWith(outdir)).toBe(true);
      // The audit also gets the names of origin-guard's own EventBridge rules it checks (lib/auditor.ts `watch`).
      const extra = f.serviceName === 'origin-guard-audit' ? ['ORIGIN_GUARD_WATCHED_RULES'] : [];
      expect(Object.keys(f.environment).sort()).toEqual(['ALERT_STATE_TABLE', 'ALERT_TOPIC_ARN', ...extra, 'POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_SERVICE_NAME'].sort());
      expect(resolve(f.environment.ALERT_TOPIC_ARN)).toBe(seeded.topicArn);
      expect(resolve(f.environment.ALERT_STATE_TABLE)).toBe(seeded.stateTableName);
    }
    // Each watched rule is a rule of the template: by its fixed Name, or (a generated name) the resolver's stand-in, its logical id.
    const watched = String(resolve(fn('audit').environment.ORIGIN_GUARD_WATCHED_RULES)).split(',');
    const ruleNames = Object.entries(assembly.template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Events::Rule')
      .flatMap(([id, r]) => [id, r.Properties?.Name].filter(Boolean));
    expect(watched.length).toBeGreaterThan(0);
    for (const name of watched) expect(ruleNames).toContain(name);
  });

  it('rotation: Secrets Manager\'s four steps with an ARN SecretId, a retried createSecret and a setSecret repeated after a crash', SEQUENCE_TIMEOUT, async () => {
    const arn = secretOf('cdn-to-gateway');
    const before = await secretValue(arn, 'AWSCURRENT');
    const token = randomUUID();
    const steps: Invocation[] = [];
    // The service retries a failed invocation; a step must be safe to run twice.
    steps.push(await invoke('rotation', rotationEvent('createSecret', arn, token)));
    steps.push(await invoke('rotation', rotationEvent('createSecret', arn, token)));
    const pending = await secretValue(arn, 'AWSPENDING');
    expect(pending).toBeTruthy();
    expect(pending).not.toBe(before);
    steps.push(await invoke('rotation', rotationEvent('setSecret', arn, token)));
    // A crash after setSecret's writes (the process died before answering): the service runs it again.
    steps.push(await invoke('rotation', rotationEvent('setSecret', arn, token)));
    steps.push(await invoke('rotation', rotationEvent('testSecret', arn, token)));
    steps.push(await invoke('rotation', rotationEvent('finishSecret', arn, token)));
    for (const s of steps) expect(s.error, JSON.stringify(s.error)).toBeUndefined();

    expect(await secretValue(arn, 'AWSCURRENT')).toBe(pending);
    const { DistributionConfig } = await clients.cloudFront().send(new GetDistributionConfigCommand({ Id: seeded.distributionId }));
    const header = DistributionConfig!.Origins!.Items!.find((o) => o.Id === 'gateway-alb')!.CustomHeaders!.Items!.find((h) => h.HeaderName === 'X-Origin-Verify');
    expect(header?.HeaderValue).toBe(pending);
    expect(kong.route('api')!.headers!['X-Origin-Verify']).toContain(pending);
    // A retry of finishSecret after the service already moved AWSCURRENT changes nothing but taking and
    // releasing the secret's lease (lambdas/core/lease.ts) in the state table.
    const again = await invoke('rotation', rotationEvent('finishSecret', arn, token));
    expect(again.error).toBeUndefined();
    const leaseWrites = writesOf(again).filter(isLeaseWrite);
    expect(leaseWrites.map((c) => c.action)).toEqual(['PutItem', 'DeleteItem']);
    expect(writesOf(again).filter((c) => !isLeaseWrite(c))).toEqual([]);
  });

  it('retire: the scheduled tick closes the overlap once CloudFront reports Deployed', async () => {
    const current = await secretValue(secretOf('cdn-to-gateway'), 'AWSCURRENT');
    const tick = await invoke('retire', scheduledEvent('OriginGuard-RetireSchedule'));
    expect(tick.error, JSON.stringify(tick.error)).toBeUndefined();
    expect(tick.result['cdn-to-gateway'].status).toMatch(/retired|closed|done|narrowed/i);
    expect(kong.route('api')!.headers!['X-Origin-Verify']).toEqual([current]);
    const { WebACL } = await clients.wafv2('REGIONAL').send(new GetWebACLCommand({ Name: seeded.gatewayAcl.name, Id: seeded.gatewayAcl.id, Scope: 'REGIONAL' }));
    const rule = WebACL!.Rules!.find((r) => r.Name === 'origin-verify')!;
    const statements = rule.Statement!.NotStatement!.Statement!.OrStatement?.Statements ?? [rule.Statement!.NotStatement!.Statement!];
    expect(statements.map((st) => Buffer.from(st.ByteMatchStatement!.SearchString!).toString('utf8'))).toEqual([current]);
  });

  it('operator: adopt; rotate without --local (RotateSecret, the test plays Secrets Manager); retire on schedule; rotate --emergency', SEQUENCE_TIMEOUT, async () => {
    const configPath = join(feedDir, 'origin-guard.config.json');
    writeFileSync(configPath, JSON.stringify(seeded.config));
    const cli = allAwsClients(emulatorClientConfig(REGION));
    const background: Array<Promise<void>> = [];
    // Secrets Manager's part: RotateSecret invokes the rotation function's createSecret, answers with the new
    // version id, then invokes setSecret, testSecret and finishSecret in turn (the emulator runs no Lambda).
    cli.secretsManager().middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'RotateSecretCommand') return next(args);
        const arn = secretArn(String((args.input as { SecretId: string }).SecretId));
        const token = randomUUID();
        const created = await invoke('rotation', rotationEvent('createSecret', arn, token));
        if (created.error) throw new Error(`createSecret: ${created.error.message}`);
        background.push(
          (async () => {
            for (const step of ['setSecret', 'testSecret', 'finishSecret']) {
              const run = await invoke('rotation', rotationEvent(step, arn, token));
              if (run.error) throw new Error(`${step}: ${run.error.message}`);
            }
          })(),
        );
        return { output: { ARN: arn, Name: arn.split(':secret:')[1], VersionId: token, $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize', name: 'playSecretsManager' },
    );
    const output: string[] = [];
    const ctx: CliContext = { stdout: (t) => output.push(t), stderr: () => {}, env: {}, interactive: false };
    const arn = secretOf('cdn-to-gateway');

    expect(await makeAdoptCommand({ clients: cli })(['--secret', 'cdn-to-gateway', '--config', configPath], ctx)).toBe(0);

    const before = await secretValue(arn, 'AWSCURRENT');
    output.length = 0;
    const code = await makeRotateCommand({ clients: cli })(['--secret', 'cdn-to-gateway', '--json', '--timeout', '1', '--config', configPath], ctx);
    await Promise.all(background.splice(0));
    expect(code, output.join('\n')).toBe(0);
    expect(JSON.parse(output.join('')).secrets[0]).toMatchObject({ status: 'rotated', overlap: 'open' });
    const rotated = await secretValue(arn, 'AWSCURRENT');
    expect(rotated).not.toBe(before);
    expect(kong.route('api')!.headers!['X-Origin-Verify']).toEqual(expect.arrayContaining([before, rotated]));
    const tick = await invoke('retire', scheduledEvent('OriginGuard-RetireSchedule'));
    expect(tick.error, JSON.stringify(tick.error)).toBeUndefined();
    expect(kong.route('api')!.headers!['X-Origin-Verify']).toEqual([rotated]);

    output.length = 0;
    const emergency = await makeRotateCommand({ clients: cli })(['--secret', 'cdn-to-gateway', '--emergency', '--json', '--timeout', '1', '--config', configPath], ctx);
    await Promise.all(background.splice(0));
    expect(emergency, output.join('\n')).toBe(0);
    expect(JSON.parse(output.join('')).secrets[0]).toMatchObject({ status: 'rotated', overlap: 'retired' });
    const replaced = await secretValue(arn, 'AWSCURRENT');
    expect(replaced).not.toBe(rotated);
    expect(kong.route('api')!.headers!['X-Origin-Verify']).toEqual([replaced]);
  });

  it('rotation: a malformed event and an unknown secret ARN fail clearly and change nothing', async () => {
    const unknown = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:not-origin-guard-AbCdEf`;
    const [malformed, stranger] = await Promise.all([
      invoke('rotation', { Step: 'createSecret', SecretId: '' }),
      invoke('rotation', rotationEvent('createSecret', unknown, randomUUID())),
    ]);
    expect(malformed.error?.message).toMatch(/Not a Secrets Manager rotation event.*SecretId.*ClientRequestToken/s);
    expect(malformed.calls).toEqual([]);
    expect(stranger.error?.message).toContain(`Secret ${unknown} is not configured in origin-guard`);
    expect(writesOf(stranger)).toEqual([]);
  });

  it('reconcile: an AmazonIpSpaceChanged notification makes the groups exact; a duplicate and an older one change nothing', SEQUENCE_TIMEOUT, async () => {
    const feed = publishFeed('1700000100', ['13.32.0.0/15', '52.46.0.0/18', '64.252.64.0/18']);
    const notice = { 'create-time': '2023-11-14-22-15-00', synctoken: '1700000100', md5: feed.md5, url: 'https://ip-ranges.amazonaws.com/ip-ranges.json' };
    const first = await invoke('reconcile', ipSpaceChanged(notice));
    expect(first.error, JSON.stringify(first.error)).toBeUndefined();
    const union = new Set((await Promise.all(seeded.securityGroupIds.map((g) => ingressCidrs(g, 443)))).flat());
    expect([...union].sort()).toEqual(['13.32.0.0/15', '52.46.0.0/18', '64.252.64.0/18']);

    // SNS delivers at least once, and Lambda retries an asynchronous event: the same notification again.
    const duplicate = await invoke('reconcile', ipSpaceChanged(notice));
    expect(duplicate.error).toBeUndefined();
    expect(writesOf(duplicate).filter((c) => c.service === 'ec2')).toEqual([]);
    const older = await invoke('reconcile', ipSpaceChanged({ ...notice, synctoken: '1700000050', 'create-time': '2023-11-14-22-14-10' }));
    expect(older.error).toBeUndefined();
    expect(writesOf(older).filter((c) => c.service === 'ec2')).toEqual([]);

    // A newer notification whose file does not match its md5 (a stale or tampered copy): alert, change nothing.
    await newMessages();
    const mismatch = await invoke('reconcile', ipSpaceChanged({ ...notice, synctoken: '1700000200', md5: '0'.repeat(32) }));
    expect(mismatch.error).toBeUndefined();
    expect(writesOf(mismatch).filter((c) => c.service === 'ec2')).toEqual([]);
    expect((await newMessages()).map((m) => m.message).join('\n')).toMatch(/md5|older/);

    // The ranges grow, then shrink: the groups follow exactly (a removal within maxRemovalFraction).
    const grown = publishFeed('1700000200', ['13.32.0.0/15', '52.46.0.0/18', '64.252.64.0/18', '130.176.0.0/18']);
    const grow = await invoke('reconcile', ipSpaceChanged({ ...notice, synctoken: '1700000200', md5: grown.md5 }));
    expect(grow.error).toBeUndefined();
    const shrunk = publishFeed('1700000300', ['13.32.0.0/15', '64.252.64.0/18', '130.176.0.0/18']);
    const shrink = await invoke('reconcile', ipSpaceChanged({ ...notice, synctoken: '1700000300', md5: shrunk.md5 }));
    expect(shrink.error).toBeUndefined();
    expect(writesOf(shrink).map((c) => c.action)).toContain('RevokeSecurityGroupIngress');
    const after = new Set((await Promise.all(seeded.securityGroupIds.map((g) => ingressCidrs(g, 443)))).flat());
    expect([...after].sort()).toEqual(['13.32.0.0/15', '130.176.0.0/18', '64.252.64.0/18']);

    const scheduled = await invoke('reconcile', scheduledEvent('OriginGuard-ReconcilerSchedule'));
    expect(scheduled.error).toBeUndefined();
    expect(writesOf(scheduled).filter((c) => c.service === 'ec2')).toEqual([]);
    await newMessages();
  });

  it('reconcile: a malformed notification alerts and changes nothing; an event of no known shape fails naming it', async () => {
    await newMessages();
    const bad = await invoke('reconcile', ipSpaceChanged('{"synctoken":"not a number"}'));
    expect(bad.error).toBeUndefined();
    expect(writesOf(bad).map((c) => c.action)).toEqual(['Publish']);
    const alerts = await newMessages();
    expect(alerts.map((a) => a.message).join('\n')).toContain('AmazonIpSpaceChanged notification could not be read');
    const unknown = await invoke('reconcile', { hello: 'world' });
    expect(unknown.error?.message).toMatch(/Not a scheduled event or an SNS notification/);
    expect(unknown.calls).toEqual([]);
  });

  it('audit: a group opened to 0.0.0.0/0 → the CloudTrail event → an alert; the repair → RESOLVED', SEQUENCE_TIMEOUT, async () => {
    const scheduled = await invoke('audit', scheduledEvent('OriginGuard-AuditorSchedule'));
    expect(scheduled.error, JSON.stringify(scheduled.error)).toBeUndefined();
    await newMessages();
    const groupId = seeded.securityGroupIds[1];
    const permission = { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
    await clients.ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [permission] }));
    const requestParameters = { groupId, ipPermissions: { items: [{ ipProtocol: 'tcp', fromPort: 443, toPort: 443, ipRanges: { items: [{ cidrIp: '0.0.0.0/0' }] } }] } };
    const openedEvent = cloudTrailEvent('aws.ec2', 'ec2.amazonaws.com', 'AuthorizeSecurityGroupIngress', requestParameters);
    const opened = await invoke('audit', openedEvent);
    expect(opened.error, JSON.stringify(opened.error)).toBeUndefined();
    expect(opened.result.failedIds).toContain(`sg.open-ingress:${groupId}`);
    const alerts = await newMessages();
    expect(alerts.some((a) => a.message.includes(groupId) && a.message.includes('0.0.0.0/0'))).toBe(true);

    // Lambda's asynchronous retry delivers the same event again: no second alert.
    const retried = await invoke('audit', openedEvent);
    expect(retried.error).toBeUndefined();
    expect(await newMessages()).toEqual([]);

    await clients.ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [permission] }));
    const repaired = await invoke('audit', cloudTrailEvent('aws.ec2', 'ec2.amazonaws.com', 'RevokeSecurityGroupIngress', requestParameters));
    expect(repaired.error).toBeUndefined();
    const resolved = await newMessages();
    expect(resolved.some((a) => /RESOLVED/.test(`${a.subject} ${a.message}`) && a.message.includes(groupId))).toBe(true);
  });

  it('audit: a failed API call (errorCode), a rotation failure event, an event forwarded from us-east-1 and a malformed event', SEQUENCE_TIMEOUT, async () => {
    // These two make no AWS call: run them side by side.
    const [denied, malformed] = await Promise.all([
      invoke(
        'audit',
        cloudTrailEvent('aws.ec2', 'ec2.amazonaws.com', 'AuthorizeSecurityGroupIngress', { groupId: seeded.securityGroupIds[0] }, { errorCode: 'Client.UnauthorizedOperation' }),
      ),
      invoke('audit', { 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.ec2', detail: { eventName: 'AuthorizeSecurityGroupIngress' } }),
    ]);
    expect(denied.result?.skipped).toMatch(/failed/);
    expect(denied.calls).toEqual([]);
    for (const name of ['RotationFailed', 'RotationAbandoned'] as const) {
      const failed = await invoke('audit', rotationServiceEvent(name, secretOf('cdn-to-gateway')));
      expect(failed.error, JSON.stringify(failed.error)).toBeUndefined();
      expect(failed.result.trigger).toBe('all');
    }
    // CloudFront's control plane is in us-east-1: the global-events stack forwards its CloudTrail events here.
    const forwarded = await invoke(
      'audit',
      cloudTrailEvent('aws.cloudfront', 'cloudfront.amazonaws.com', 'UpdateDistribution', { id: seeded.distributionId, ifMatch: 'E2QWRUHEXAMPLE' }, { region: 'us-east-1' }),
    );
    expect(forwarded.error, JSON.stringify(forwarded.error)).toBeUndefined();
    expect(forwarded.result.trigger).toContain('UpdateDistribution');
    expect(malformed.error?.message).toMatch(/Not an EventBridge schedule or CloudTrail API call event.*detail\.eventSource/s);
    expect(malformed.calls).toEqual([]);
    await newMessages();
  });

  describe('negative controls', () => {
    it('a variable dropped from the environment: MissingEnvironmentError naming it, before any AWS call', async () => {
      const variables = ['ALERT_TOPIC_ARN', 'ALERT_STATE_TABLE'];
      const runs = await Promise.all(variables.map((variable) => invoke('audit', scheduledEvent('OriginGuard-AuditorSchedule'), { dropVariable: variable })));
      for (const [i, variable] of variables.entries()) {
        const broken = runs[i];
        expect(broken.error?.name).toBe('MissingEnvironmentError');
        expect(broken.error?.message).toContain(variable);
        expect(broken.calls).toEqual([]);
      }
    });

    it('a bundle built without one of the SDK clients it needs: it fails to load, naming the package', async () => {
      // The retire handler built exactly as lib/function.ts builds it, except that one client it imports at load
      // time (SNS) is left to the runtime, in a runtime (node_modules) that lacks it.
      const victim = fn('retire');
      const missing = 'client-sns';
      const dir = mkdtempSync(join(tmpdir(), 'og-runtime-'));
      try {
        const settings = bundlingSettings(HANDLER_SDK_CLIENTS.retire.filter((c) => c !== `@aws-sdk/${missing}`));
        await build({
          entryPoints: [join(DEFAULT_HANDLERS_DIR, 'retire.ts')],
          bundle: true,
          platform: 'node',
          target: 'node20',
          format: settings.format,
          outfile: join(dir, victim.handlerFile),
          minify: settings.minify,
          mainFields: settings.mainFields,
          external: settings.external,
          alias: settings.alias,
          banner: { js: settings.banner },
          // The bundle fails while loading, before it reads its configuration.
          define: { [EMBEDDED_CONFIG_EXPRESSION]: JSON.stringify('{}') },
          logLevel: 'silent',
        });
        expect(readFileSync(join(dir, victim.handlerFile), 'utf8')).toMatch(new RegExp(`from\\s*"@aws-sdk/${missing}"`));
        const modules = join(dir, 'node_modules');
        mkdirSync(join(modules, '@aws-sdk'), { recursive: true });
        const source = join(PROJECT_ROOT, 'node_modules');
        for (const entry of readdirSync(source)) if (entry !== '@aws-sdk') symlinkSync(join(source, entry), join(modules, entry));
        for (const entry of readdirSync(join(source, '@aws-sdk'))) {
          if (entry !== missing) symlinkSync(join(source, '@aws-sdk', entry), join(modules, '@aws-sdk', entry));
        }
        const broken = await invoke('retire', scheduledEvent('OriginGuard-Schedule'), { handlerPath: join(dir, victim.handlerFile) });
        expect(broken.error?.code).toBe('ERR_MODULE_NOT_FOUND');
        expect(broken.error?.message).toContain(`@aws-sdk/${missing}`);
        expect(broken.calls).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a statement removed from a role: the check denies the call it allowed, and names it', async () => {
      const rotation = fn('rotation');
      const policies = rotation.policies.map((p) => resolve(p.document));
      const call = invocations.flatMap((i) => (i.fn === rotation.serviceName ? i.calls : [])).find((c) => c.action === 'UpdateDistribution');
      expect(call, 'the rotation scenario made an UpdateDistribution call').toBeDefined();
      const [request] = iamRequestsOf(call!, secretArn);
      const roleArn = resolve({ 'Fn::GetAtt': [rotation.roleLogicalId, 'Arn'] });
      expect((await evaluate(request, roleArn, policies)).allowed).toBe(true);
      const without = policies.map((p: any) => ({
        ...p,
        Statement: p.Statement.filter((s: any) => ![s.Action].flat().includes('cloudfront:UpdateDistribution')),
      }));
      const decision = await evaluate(request, roleArn, without);
      expect(decision.allowed).toBe(false);
      expect(`${decision.action} on ${decision.resource}`).toBe(`cloudfront:UpdateDistribution on arn:aws:cloudfront::${ACCOUNT}:distribution/${seeded.distributionId}`);
    });
  });

  it('every AWS call of every bundle is allowed by its role; no granted write goes unused without a reason', async () => {
    const summary: string[] = [];
    const problems: string[] = [];
    const values = (
      await Promise.all(
        [secretOf('cdn-to-gateway'), secretOf('gateway-to-upstream')].flatMap((arn) => ['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING'].map((stage) => secretValue(arn, stage))),
      )
    ).filter((v): v is string => !!v);
    for (const f of assembly.functions) {
      const policies = f.policies.map((p) => resolve(p.document));
      const roleArn = resolve({ 'Fn::GetAtt': [f.roleLogicalId, 'Arn'] });
      const mine = invocations.filter((i) => i.fn === f.serviceName);
      const calls: RecordedCall[] = mine.flatMap((i) => i.calls);
      const decisions: Decision[] = [];
      const seen = new Set<string>();
      for (const call of calls) {
        for (const request of iamRequestsOf(call, secretArn)) {
          const key = `${request.action} ${request.resource} ${JSON.stringify(request.context)}`;
          if (seen.has(key)) continue;
          seen.add(key);
          decisions.push(await evaluate(request, roleArn, policies));
        }
      }
      const denied = decisions.filter((d) => !d.allowed);
      for (const d of denied) problems.push(`${f.serviceName}: ${d.action} on ${d.resource} is not allowed by its role (${d.detail})`);
      const used = new Set(decisions.map((d) => d.action));
      const unused = grantedActions(policies).filter((a) => !used.has(a));
      for (const a of unused) if (isWriteAction(a) && !UNUSED_WRITES_WITH_REASON[a] && !UNUSED_WRITES_WITH_REASON[`${f.serviceName}/${a}`]) problems.push(`${f.serviceName}: granted write ${a} is used by no scenario (test it, drop it, or list it with a reason)`);
      for (const i of mine) for (const v of values) if (i.output.includes(v)) problems.push(`${f.serviceName}: a secret value appears in its logs`);
      summary.push(
        `${f.serviceName.padEnd(24)} events ${String(mine.length).padStart(2)} | AWS calls ${String(calls.length).padStart(3)} | allowed ${decisions.length - denied.length}/${decisions.length} distinct, denied ${denied.length} | granted but unused: ${unused.join(', ') || 'none'}`,
      );
    }
    console.log(`deployed bundles, per function:\n${summary.join('\n')}`);
    expect(problems).toEqual([]);
  });
});
