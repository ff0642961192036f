/**
 * Two writers of one secret at once against moto_server and the fake Kong, with the leases in the real
 * alert-state table (DynamoDB): the deployed rotation and retire handlers (called in-process with a Lambda
 * context) against the CLI's `rotate --local`, `adopt` and `retire`. A sampler reads CloudFront, WAF and Kong
 * all along: what the sender sends is accepted by every validator at every sample.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetDistributionConfigCommand } from '@aws-sdk/client-cloudfront';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetWebACLCommand } from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAccount, type SeededAccount } from '../../cli/seed.ts';
import { makeAdoptCommand, makeRetireCommand, makeRotateCommand } from '../../cli/rotate.ts';
import type { CliContext } from '../../cli/context.ts';
import { makeStatusCommand } from '../../cli/status.ts';
import type { AwsClients } from '../../lambdas/adapters/aws-clients.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { leaseKey } from '../../lambdas/core/lease.ts';
import { TAG } from '../../lambdas/core/ports.ts';
import { acceptedValuesOfRule } from '../../lambdas/core/waf-rule.ts';
import type { Config } from '../../lambdas/config.ts';
import { emulatorClientConfig, motoEndpoint } from '../support/aws.ts';
import { startFakeKong, type FakeKong } from '../support/fake-kong.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, interactive: false };
  return { ctx, out, err, json: () => JSON.parse(out.join('\n')) };
}

interface World {
  clients: AwsClients;
  kong: FakeKong;
  seeded: SeededAccount;
  config: Config;
  configPath: string;
}

let w: World;
let rotateHandler: typeof import('../../lambdas/handlers/rotate.ts').handler;
let retireHandler: typeof import('../../lambdas/handlers/retire.ts').handler;

/** A Lambda context whose deadline is `ms` from now. */
function lambdaContext(ms: number, requestId: string) {
  const deadline = Date.now() + ms;
  return { getRemainingTimeInMillis: () => deadline - Date.now(), awsRequestId: requestId };
}

async function currentValue(stage = 'AWSCURRENT') {
  const res = await w.clients.secretsManager().send(new GetSecretValueCommand({ SecretId: w.config.secrets[0]!.secretName, VersionStage: stage }));
  return res.SecretString!;
}

async function sends(): Promise<string> {
  const config = (await w.clients.cloudFront().send(new GetDistributionConfigCommand({ Id: w.seeded.distributionId }))).DistributionConfig!;
  const origin = config.Origins!.Items!.find((o) => o.Id === 'gateway-alb')!;
  return origin.CustomHeaders!.Items!.find((h) => h.HeaderName === 'X-Origin-Verify')!.HeaderValue!;
}

async function wafAccepts(): Promise<string[]> {
  const acl = w.seeded.gatewayAcl;
  const webAcl = (await w.clients.wafv2('REGIONAL').send(new GetWebACLCommand({ Name: acl.name, Id: acl.id, Scope: 'REGIONAL' }))).WebACL!;
  return acceptedValuesOfRule(webAcl.Rules!.find((r) => r.Name === 'origin-verify')!, 'X-Origin-Verify') ?? [];
}

const kongAccepts = () => w.kong.route('api')!.headers!['X-Origin-Verify']!;

/** Reads sender and validators until stopped (at most 2000 samples); returns every sample where one refuses. */
function sampler() {
  let running = true;
  const refused: string[] = [];
  let samples = 0;
  const done = (async () => {
    for (let i = 0; i < 2000 && running; i++) {
      const sent = await sends();
      const [waf, kong] = [await wafAccepts(), kongAccepts()];
      // Re-read the sender: a switch between the reads above is not a refusal if validators accepted it before.
      if ((!waf.includes(sent) || !kong.includes(sent)) && (await sends()) === sent) refused.push(`sample ${i}: waf ${waf.includes(sent)}, kong ${kong.includes(sent)}`);
      samples++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { refused, samples };
    },
  };
}

const leaseTable = () => new DynamoDbLeases(w.clients.dynamoDb(), w.seeded.stateTableName, 'test:observer');

/** Polls the lease table until `purpose` holds the secret (bounded: 200 polls). */
async function untilHeldBy(purpose: RegExp) {
  for (let i = 0; i < 200; i++) {
    const holder = await leaseTable().holder(leaseKey.secret('cdn-to-gateway'));
    if (holder && purpose.test(holder.purpose)) return holder;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the lease was never held by ${purpose}`);
}

async function settle() {
  // Close any open overlap so the next scenario starts settled (overlapMinutes is 0 in the fast seed).
  await makeRetireCommand({ clients: w.clients })(['--secret', 'cdn-to-gateway', '--config', w.configPath], capture().ctx);
}

beforeAll(async () => {
  const settings = emulatorClientConfig();
  const clients = allAwsClients({ region: settings.region, endpoint: settings.endpoint, credentials: settings.credentials, maxAttempts: 2 });
  const kongAdminToken = randomBytes(16).toString('hex');
  const kong = await startFakeKong({ adminToken: kongAdminToken });
  const seeded = await seedAccount(clients, { kongAdminUrl: kong.url, kongAdminToken, fast: true });
  kong.addRoute({ name: 'api', paths: ['/api'], headers: { 'X-Origin-Verify': [seeded.initialValues.cdnToGateway] } });
  // A short real wait in testSecret, so that a second writer can arrive while the first one waits.
  const config = structuredClone(seeded.config);
  const waf = config.secrets[0]!.validators.find((v) => v.type === 'wafv2')!;
  if (waf.type === 'wafv2') waf.propagationSeconds = 2;
  const dir = mkdtempSync(join(tmpdir(), 'og-writers-'));
  const configPath = join(dir, 'origin-guard.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  w = { clients, kong, seeded, config, configPath };
  // The Lambda environment, as the stack sets it: the embedded config, the alert topic and the lease table.
  Object.assign(process.env, {
    ORIGIN_GUARD_CONFIG_JSON: JSON.stringify(config),
    ALERT_TOPIC_ARN: seeded.topicArn,
    ALERT_STATE_TABLE: seeded.stateTableName,
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: settings.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  rotateHandler = (await import('../../lambdas/handlers/rotate.ts')).handler;
  retireHandler = (await import('../../lambdas/handlers/retire.ts')).handler;
});

afterAll(async () => {
  await w?.kong.close();
});

const stepEvent = (step: string, token: string) => ({ Step: step, SecretId: w.config.secrets[0]!.secretName, ClientRequestToken: token });

describe('two writers of one secret against the emulator, leases in DynamoDB', () => {
  it('the issue example: rotate --local while the deployed testSecret waits is refused, naming the holder; the Lambda finishes', async () => {
    const before = await currentValue();
    const token = globalThis.crypto.randomUUID();
    const ctx = lambdaContext(600_000, 'req-example');
    const watch = sampler();
    await rotateHandler(stepEvent('createSecret', token), ctx);
    await rotateHandler(stepEvent('setSecret', token), ctx);
    const testing = rotateHandler(stepEvent('testSecret', token), ctx);
    await untilHeldBy(/^rotation testSecret/);

    const local = capture();
    const code = await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], local.ctx);
    await testing;
    await rotateHandler(stepEvent('finishSecret', token), ctx);
    const { refused, samples } = await watch.stop();

    expect(code).toBe(1);
    expect(local.json().secrets[0].error).toMatch(
      /^LeaseHeldError: secret:cdn-to-gateway is being changed by rotation testSecret \(token [0-9a-f-]+\) \(lambda:origin-guard-rotation:req-example:[0-9a-f]+\) since \d{4}-.*nothing was changed/,
    );
    const after = await currentValue();
    expect(after).not.toBe(before);
    expect(await sends()).toBe(after);
    expect((await wafAccepts()).sort()).toEqual([before, after].sort());
    expect(samples).toBeGreaterThan(3);
    expect(refused).toEqual([]);
    expect(await leaseTable().holder(leaseKey.secret('cdn-to-gateway'))).toBeUndefined();
    expect([...local.out, ...local.err].join('\n')).not.toContain(after);
    await settle();
  });

  it('a deployed step invoked while rotate --local holds the secret refuses before it changes anything; the CLI finishes', async () => {
    const before = await currentValue();
    const watch = sampler();
    const local = capture();
    const running = makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], local.ctx);
    await untilHeldBy(/^rotate --local/);
    const lambdaToken = globalThis.crypto.randomUUID();
    const refused = await rotateHandler(stepEvent('createSecret', lambdaToken), lambdaContext(600_000, 'req-joined')).catch((error) => error);
    const retired = await retireHandler({}, lambdaContext(60_000, 'req-retire'));
    const adopt = capture();
    const adoptCode = await makeAdoptCommand({ clients: w.clients })(['--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], adopt.ctx);
    expect(await running).toBe(0);
    const { refused: traffic } = await watch.stop();

    expect(refused.name).toBe('LeaseHeldError');
    expect(refused.message).toMatch(/is being changed by rotate --local \(cli:/);
    expect(retired['cdn-to-gateway']).toMatchObject({ status: 'waiting', reason: expect.stringMatching(/is being changed by rotate --local/) });
    expect(adoptCode).toBe(1);
    expect(adopt.json().secrets[0].error).toMatch(/LeaseHeldError: .*rotate --local/);
    // The refused Lambda step created nothing: its token never became a version.
    const versionOfToken = await w.clients
      .secretsManager()
      .send(new GetSecretValueCommand({ SecretId: w.config.secrets[0]!.secretName, VersionId: lambdaToken }))
      .catch((error: Error) => error.name);
    expect(versionOfToken).toBe('ResourceNotFoundException');
    const after = await currentValue();
    expect(after).not.toBe(before);
    expect(await sends()).toBe(after);
    expect(traffic).toEqual([]);
    await settle();
  });

  it('retire from the CLI and the retire Lambda at once: one retires, the other waits or finds nothing to do', async () => {
    expect(await makeRotateCommand({ clients: w.clients })(['--local', '--secret', 'cdn-to-gateway', '--config', w.configPath], capture().ctx)).toBe(0);
    const current = await currentValue();
    const watch = sampler();
    const cli = capture();
    const [cliCode, lambda] = await Promise.all([
      makeRetireCommand({ clients: w.clients })(['--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], cli.ctx),
      retireHandler({}, lambdaContext(60_000, 'req-retire-2')),
    ]);
    const { refused } = await watch.stop();

    const outcomes = [cli.json().secrets[0], lambda['cdn-to-gateway']!];
    expect(outcomes.filter((o) => o.status === 'retired')).toHaveLength(1);
    const other = outcomes.find((o) => o.status !== 'retired')!;
    expect(other.status === 'nothing-to-retire' || (other.status !== 'retired' && /is being changed by retire/.test(other.reason))).toBe(true);
    expect(cliCode === 0 || cliCode === 1).toBe(true);
    expect(await wafAccepts()).toEqual([current]);
    expect(refused).toEqual([]);
  });

  it('an emergency rotation from the CLI retires its overlap as soon as senders propagated and leaves no emergency flag behind', async () => {
    const run = capture();
    const code = await makeRotateCommand({ clients: w.clients })(['--local', '--emergency', '--json', '--secret', 'cdn-to-gateway', '--timeout', '1', '--config', w.configPath], run.ctx);
    expect(code).toBe(0);
    expect(run.json().secrets[0]).toMatchObject({ status: 'rotated', overlap: 'retired' });
    const { Tags } = await w.clients.secretsManager().send(new (await import('@aws-sdk/client-secrets-manager')).DescribeSecretCommand({ SecretId: w.config.secrets[0]!.secretName }));
    expect((Tags ?? []).find((t) => t.Key === TAG.EMERGENCY)).toBeUndefined();
    expect(await wafAccepts()).toEqual([await currentValue()]);
  });

  it("a Kong vault ttl longer than the configured ttlSeconds refuses the rotation before anything changes; a matching ttl rotates", async () => {
    const upstream = structuredClone(w.config);
    const secret = upstream.secrets[1]!;
    const sender = secret.senders[0]!;
    const kongValidator = upstream.secrets[0]!.validators.find((v) => v.type === 'kong-route')!;
    if (sender.type !== 'kong-vault' || kongValidator.type !== 'kong-route') throw new Error('unexpected seed');
    Object.assign(sender, { ttlSeconds: 300, vaultAdminUrl: w.kong.url, vaultPrefix: 'aws-og', vaultTokenSecretName: kongValidator.tokenSecretName });
    const path = join(mkdtempSync(join(tmpdir(), 'og-vault-')), 'origin-guard.config.json');
    writeFileSync(path, JSON.stringify(upstream, null, 2));
    w.kong.addVault('aws-og', { ttl: 600, resurrect_ttl: 1e8 });
    const current = async () =>
      (await w.clients.secretsManager().send(new GetSecretValueCommand({ SecretId: secret.secretName, VersionStage: 'AWSCURRENT' }))).SecretString!;
    const before = await current();

    const refused = capture();
    const code = await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'gateway-to-upstream', '--config', path], refused.ctx);

    expect(code).toBe(1);
    expect(refused.json().secrets[0].error).toMatch(
      /refusing to rotate, nothing was changed: kong-vault:secretsmanager: Kong vault "aws-og" has ttl 600 s, longer than the configured ttlSeconds 300/,
    );
    expect(await current()).toBe(before);
    const pending = await w.clients
      .secretsManager()
      .send(new GetSecretValueCommand({ SecretId: secret.secretName, VersionStage: 'AWSPENDING' }))
      .catch((error: Error) => error.name);
    expect(pending).toBe('ResourceNotFoundException');

    w.kong.addVault('aws-og', { ttl: 0 });
    const never = capture();
    expect(await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'gateway-to-upstream', '--config', path], never.ctx)).toBe(1);
    expect(never.json().secrets[0].error).toMatch(/has ttl 0, so Kong never re-reads the value/);

    w.kong.addVault('aws-og', { ttl: 300, resurrect_ttl: 1e8 });
    expect(await makeRotateCommand({ clients: w.clients })(['--local', '--secret', 'gateway-to-upstream', '--config', path], capture().ctx)).toBe(0);
    expect(await current()).not.toBe(before);
  });

  it('a deployed testSecret with less time left than its wait stops cleanly; the retried steps resume without re-stamping the wait', async () => {
    const before = await currentValue();
    const token = globalThis.crypto.randomUUID();
    const tags = async () => {
      const { DescribeSecretCommand } = await import('@aws-sdk/client-secrets-manager');
      const { Tags } = await w.clients.secretsManager().send(new DescribeSecretCommand({ SecretId: w.config.secrets[0]!.secretName }));
      return Object.fromEntries((Tags ?? []).map((t) => [t.Key!, t.Value!]));
    };
    await rotateHandler(stepEvent('createSecret', token), lambdaContext(600_000, 'req-1'));
    await rotateHandler(stepEvent('setSecret', token), lambdaContext(600_000, 'req-1'));
    const setAt = (await tags())[TAG.VALIDATORS_SET_AT];

    const stopped = await rotateHandler(stepEvent('testSecret', token), lambdaContext(60_000, 'req-2')).catch((error) => error);

    expect(stopped.name).toBe('RotationStoppedError');
    const recorded = await tags();
    expect(recorded[TAG.PROGRESS_STEP]).toBe(`testSecret ${token}`);
    expect(recorded[TAG.PROGRESS_WAITING_FOR]).toMatch(/validator propagation wafv2:REGIONAL/);
    expect(recorded[TAG.LAST_ERROR]).toMatch(/stopped in testSecret before its deadline/);
    expect(await sends()).toBe(before);
    expect(await wafAccepts()).toContain(await currentValue('AWSPENDING'));
    // `status` shows where it stands: the step, what it waits for, until when (ETA) and the stop.
    const status = capture();
    await makeStatusCommand({ clients: w.clients, fetch: globalThis.fetch })(['--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], status.ctx);
    const progress = status.json().secrets[0].progress;
    expect(progress).toMatchObject({ step: `testSecret ${token}`, waitingFor: expect.stringMatching(/validator propagation/), lastError: expect.stringMatching(/stopped in testSecret/) });
    expect(progress.until).toBe(recorded[TAG.PROGRESS_UNTIL]);
    expect(progress.etaSeconds).toBeGreaterThanOrEqual(0);
    const text = capture();
    await makeStatusCommand({ clients: w.clients, fetch: globalThis.fetch })(['--secret', 'cdn-to-gateway', '--config', w.configPath], text.ctx);
    expect(text.out.join('\n')).toMatch(/progress: testSecret [0-9a-f-]+, waiting for validator propagation .* until .* \(ETA \d+ s\)\n\s+last error: .*stopped in testSecret/);
    expect([...status.out, ...text.out].join('\n')).not.toContain(await currentValue('AWSPENDING'));
    // Secrets Manager retries every step with the same token: setSecret keeps the propagation clock.
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
      if (step === 'testSecret') expect((await tags())[TAG.VALIDATORS_SET_AT]).toBe(setAt);
      await rotateHandler(stepEvent(step, token), lambdaContext(600_000, 'req-3'));
    }
    const after = await currentValue();
    expect(after).not.toBe(before);
    expect(await sends()).toBe(after);
    const final = await tags();
    expect(final[TAG.PROGRESS_STEP]).toBeUndefined();
    expect(final[TAG.LAST_ERROR]).toBeUndefined();
    expect(JSON.stringify(final)).not.toContain(after);
    await settle();
  });
});
