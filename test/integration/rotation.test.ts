/**
 * Issue 3's acceptance: two secrets rotate with `origin-guard rotate --local` against moto_server and a fake
 * Kong Admin API; CloudFront sends the new value on exactly the listed origins; the WAF rule and the Kong
 * route accept old+new until retire, then only new; nothing unrelated changes; a failure injected at each
 * step leaves every validator accepting what the senders send, and the next rotation succeeds.
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
import { makeStatusCommand } from '../../cli/status.ts';
import type { CliContext } from '../../cli/context.ts';
import type { AwsClients } from '../../lambdas/adapters/aws-clients.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { acceptedValuesOfRule } from '../../lambdas/core/waf-rule.ts';
import { rotationView } from '../../lambdas/core/rotation-state.ts';
import { SecretsManagerStore } from '../../lambdas/adapters/secrets-manager.ts';
import { emulatorClientConfig } from '../support/aws.ts';
import { injectFault, serviceError } from '../support/faults.ts';
import { startFakeKong, type FakeKong } from '../support/fake-kong.ts';

function capture(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env, interactive: false };
  return { ctx, out, err, json: () => JSON.parse(out.join('\n')) };
}

interface World {
  clients: AwsClients;
  kong: FakeKong;
  seeded: SeededAccount;
  configPath: string;
}

async function makeWorld(): Promise<World> {
  const settings = emulatorClientConfig();
  const clients = allAwsClients({ region: settings.region, endpoint: settings.endpoint, credentials: settings.credentials, maxAttempts: 2 });
  // Kong's admin token lives in Secrets Manager (seeded); the fake checks it.
  const kongAdminToken = randomBytes(16).toString('hex');
  const guarded = await startFakeKong({ adminToken: kongAdminToken });
  const seeded = await seedAccount(clients, { kongAdminUrl: guarded.url, kongAdminToken, fast: true });
  const config = seeded.config;
  guarded.addRoute({
    name: 'api',
    paths: ['/api'],
    hosts: ['api.example.com'],
    headers: { 'X-Origin-Verify': [seeded.initialValues.cdnToGateway], 'x-tenant': ['blue'] },
    tags: ['team-platform'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'og-rotation-'));
  const configPath = join(dir, 'origin-guard.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { clients, kong: guarded, seeded: { ...seeded, config }, configPath };
}

async function currentValue(w: World, secretName: string, stage = 'AWSCURRENT') {
  const res = await w.clients.secretsManager().send(new GetSecretValueCommand({ SecretId: secretName, VersionStage: stage }));
  return res.SecretString!;
}

async function distributionConfig(w: World) {
  return (await w.clients.cloudFront().send(new GetDistributionConfigCommand({ Id: w.seeded.distributionId }))).DistributionConfig!;
}

async function webAcl(w: World) {
  const acl = w.seeded.gatewayAcl;
  return (await w.clients.wafv2('REGIONAL').send(new GetWebACLCommand({ Name: acl.name, Id: acl.id, Scope: 'REGIONAL' }))).WebACL!;
}

function headerOf(origin: { CustomHeaders?: { Items?: Array<{ HeaderName?: string; HeaderValue?: string }> } }, name: string) {
  return origin.CustomHeaders?.Items?.find((h) => h.HeaderName?.toLowerCase() === name.toLowerCase())?.HeaderValue;
}

async function wafAccepts(w: World) {
  const rule = (await webAcl(w)).Rules!.find((r) => r.Name === 'origin-verify')!;
  return acceptedValuesOfRule(rule, 'X-Origin-Verify') ?? [];
}

const kongAccepts = (w: World) => w.kong.route('api')!.headers!['X-Origin-Verify'];

async function gatewayOriginSends(w: World) {
  const config = await distributionConfig(w);
  return headerOf(config.Origins!.Items!.find((o) => o.Id === 'gateway-alb')!, 'X-Origin-Verify')!;
}

describe('rotation against the emulator', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
  });
  afterAll(async () => {
    await w?.kong.close();
  });

  it('rotates both secrets with --local, keeps the overlap open until retire, and changes nothing unrelated', async () => {
    const cdnOld = w.seeded.initialValues.cdnToGateway;
    const upstreamOld = w.seeded.initialValues.gatewayToUpstream;
    const distributionBefore = await distributionConfig(w);
    const aclBefore = await webAcl(w);
    const routeBefore = structuredClone(w.kong.route('api')!);

    const rotate = capture();
    const code = await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--config', w.configPath], rotate.ctx);

    expect(rotate.err.join('\n')).not.toMatch(/FAILED|✗/);
    expect(code).toBe(0);
    expect(rotate.json().secrets).toMatchObject([
      { name: 'cdn-to-gateway', status: 'rotated', overlap: 'open' },
      { name: 'gateway-to-upstream', status: 'rotated', overlap: 'open' },
    ]);
    const cdnNew = await currentValue(w, w.seeded.config.secrets[0].secretName);
    const upstreamNew = await currentValue(w, w.seeded.config.secrets[1].secretName);
    expect(cdnNew).not.toBe(cdnOld);
    expect(upstreamNew).not.toBe(upstreamOld);
    expect(cdnNew).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // CloudFront: exactly the listed origin carries the new value; everything else as before.
    const distributionAfter = await distributionConfig(w);
    expect(await gatewayOriginSends(w)).toBe(cdnNew);
    const expected = structuredClone(distributionBefore);
    expected.Origins!.Items![0].CustomHeaders!.Items!.find((h) => h.HeaderName === 'X-Origin-Verify')!.HeaderValue = cdnNew;
    expect(distributionAfter).toEqual(expected);

    // WAF and Kong accept old + new; every other rule, setting and route field is untouched.
    expect((await wafAccepts(w)).sort()).toEqual([cdnOld, cdnNew].sort());
    const aclAfter = await webAcl(w);
    expect(aclAfter.Rules!.filter((r) => r.Name !== 'origin-verify')).toEqual(aclBefore.Rules!.filter((r) => r.Name !== 'origin-verify'));
    expect({ ...aclAfter, Rules: undefined, LockToken: undefined }).toEqual({ ...aclBefore, Rules: undefined, LockToken: undefined });
    expect([...kongAccepts(w)].sort()).toEqual([cdnOld, cdnNew].sort());
    const routeAfter = w.kong.route('api')!;
    expect({ ...routeAfter, headers: { ...routeAfter.headers, 'X-Origin-Verify': [] }, updated_at: 0 }).toEqual({
      ...routeBefore,
      headers: { ...routeBefore.headers, 'X-Origin-Verify': [] },
      updated_at: 0,
    });

    // The secret never shows up in what the CLI printed.
    const printed = [...rotate.out, ...rotate.err].join('\n');
    for (const value of [cdnOld, cdnNew, upstreamOld, upstreamNew]) expect(printed).not.toContain(value);

    // Retire: only the new value is accepted from now on.
    const retireRun = capture();
    expect(await makeRetireCommand({ clients: w.clients })(['--json', '--config', w.configPath], retireRun.ctx)).toBe(0);
    expect(retireRun.json().secrets.map((s: { status: string }) => s.status)).toEqual(['retired', 'retired']);
    expect(await wafAccepts(w)).toEqual([cdnNew]);
    expect(kongAccepts(w)).toEqual([cdnNew]);
    expect(w.kong.route('api')!.headers!['x-tenant']).toEqual(['blue']);

    const status = capture();
    expect(await makeStatusCommand({ clients: w.clients })(['--json', '--config', w.configPath], status.ctx)).toBe(0);
    const [cdn, upstream] = status.json().secrets;
    expect(cdn.overlap.open).toBe(false);
    expect(cdn.validators.every((v: { ok: boolean }) => v.ok)).toBe(true);
    expect(upstream.versions.find((v: { stages: string[] }) => v.stages.includes('AWSCURRENT')).fingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(status.out.join('\n')).not.toContain(cdnNew);
  });

  const faults = [
    {
      step: 'createSecret',
      arrange: (x: World) => injectFault(x.clients.secretsManager(), { command: 'PutSecretValueCommand', error: () => serviceError('InternalServiceError', 'boom', 500), times: 5 }),
    },
    { step: 'setSecret', arrange: (x: World) => (x.kong.setDown(true), { remove: () => x.kong.setDown(false) }) },
    {
      step: 'testSecret',
      // The set step reads the ACL once per accept; fail the read-backs that follow.
      arrange: (x: World) => injectFault(x.clients.wafv2('REGIONAL'), { command: 'GetWebACLCommand', error: () => serviceError('WAFInternalErrorException', 'boom', 500), after: 1 }),
    },
    {
      step: 'finishSecret',
      arrange: (x: World) => injectFault(x.clients.cloudFront(), { command: 'UpdateDistributionCommand', error: () => serviceError('AccessDenied', 'not allowed', 403) }),
    },
  ] as const;

  for (const fault of faults) {
    it(`a failure in ${fault.step} leaves validators accepting what senders send, and the next rotation succeeds`, async () => {
      const before = await currentValue(w, w.seeded.config.secrets[0].secretName);
      const injected = fault.arrange(w);

      const run = capture();
      const code = await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], run.ctx);
      injected.remove();

      expect(code).toBe(1);
      expect(run.json().secrets[0]).toMatchObject({ status: 'failed', error: expect.stringContaining(fault.step) });
      expect(await currentValue(w, w.seeded.config.secrets[0].secretName)).toBe(before);
      const sent = await gatewayOriginSends(w);
      expect(sent).toBe(before);
      expect(await wafAccepts(w)).toContain(sent);
      expect(kongAccepts(w)).toContain(sent);
      for (const value of [before]) expect(run.out.join('\n') + run.err.join('\n')).not.toContain(value);

      // Recovery: the retire of any attempted value (finishSecret) and a clean rotation.
      expect(await makeRetireCommand({ clients: w.clients })(['--config', w.configPath], capture().ctx)).toBe(0);
      const again = capture();
      expect(await makeRotateCommand({ clients: w.clients })(['--local', '--secret', 'cdn-to-gateway', '--config', w.configPath], again.ctx)).toBe(0);
      const after = await currentValue(w, w.seeded.config.secrets[0].secretName);
      expect(after).not.toBe(before);
      expect(await gatewayOriginSends(w)).toBe(after);
      expect((await wafAccepts(w)).sort()).toEqual([before, after].sort());
      expect([...kongAccepts(w)].sort()).toEqual([before, after].sort());
      expect(await makeRetireCommand({ clients: w.clients })(['--config', w.configPath], capture().ctx)).toBe(0);
      expect(await wafAccepts(w)).toEqual([after]);
    });
  }

  it('onboarding: refuses to rotate from a value senders do not send, adopts the one in use, then rotates', async () => {
    const secretName = w.seeded.config.secrets[0].secretName;
    const inUse = await gatewayOriginSends(w);
    // What `cdk deploy` does: the new secret starts with a random value that no target knows.
    // (Moved with UpdateSecretVersionStage, as AWS does: moto's PutSecretValue can leave two AWSCURRENT labels.)
    const store = new SecretsManagerStore(w.clients.secretsManager(), secretName);
    const currentId = rotationView(await store.describe()).currentVersionId;
    const initialToken = globalThis.crypto.randomUUID();
    await store.putPending(initialToken, 'random-value-from-cdk-deploy-0000000000000');
    await store.moveStage('AWSCURRENT', initialToken, currentId);
    await store.moveStage('AWSPENDING', undefined, initialToken);

    const refused = capture();
    const refusedCode = await makeRotateCommand({ clients: w.clients })(['--local', '--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], refused.ctx);
    expect(refusedCode, refused.out.join('\n') + refused.err.join('\n')).toBe(1);
    expect(refused.json().secrets[0].error).toMatch(/refusing to rotate.*origin-guard adopt --secret cdn-to-gateway/);
    expect(await wafAccepts(w)).toEqual([inUse]);

    const adopted = capture();
    expect(await makeAdoptCommand({ clients: w.clients })(['--json', '--secret', 'cdn-to-gateway', '--config', w.configPath], adopted.ctx)).toBe(0);
    expect(adopted.json().secrets[0]).toMatchObject({ status: 'adopted' });
    expect(await currentValue(w, secretName)).toBe(inUse);
    expect(adopted.out.join('\n')).not.toContain(inUse);

    expect(await makeRotateCommand({ clients: w.clients })(['--local', '--secret', 'cdn-to-gateway', '--config', w.configPath], capture().ctx)).toBe(0);
    expect((await wafAccepts(w)).sort()).toEqual([inUse, await currentValue(w, secretName)].sort());
    expect(await makeRetireCommand({ clients: w.clients })(['--config', w.configPath], capture().ctx)).toBe(0);
  });
});
