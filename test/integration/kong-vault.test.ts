import { randomBytes, randomUUID } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KongVaultSender, konnectSentTagKey } from '../../lambdas/adapters/kong-vault.ts';
import { KonnectClient } from '../../lambdas/adapters/konnect.ts';
import { SecretsManagerStore } from '../../lambdas/adapters/secrets-manager.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { STAGE } from '../../lambdas/core/ports.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { recordCalls } from '../support/faults.ts';
import { startFakeKonnect, type FakeKonnect } from '../support/fake-konnect.ts';

const TOKEN = 'kpat_vault_test_token';
const value = () => randomBytes(24).toString('hex');
const recordable = (client: SecretsManagerClient) => client as unknown as Parameters<typeof recordCalls>[0];

let sm: SecretsManagerClient;
let konnect: FakeKonnect;

beforeAll(async () => {
  sm = new SecretsManagerClient(emulatorClientConfig());
  konnect = await startFakeKonnect({ token: TOKEN });
});
afterAll(async () => {
  sm.destroy();
  await konnect.close();
});

/** A secret holding `current` as AWSCURRENT, as origin-guard's stack creates it. */
async function createSecret(current: string): Promise<SecretsManagerStore> {
  const name = uniqueName('origin-verify');
  await sm.send(new CreateSecretCommand({ Name: name, SecretString: current }));
  return new SecretsManagerStore(sm, name);
}

/** What finishSecret does to the secret: the pending version becomes AWSCURRENT. */
async function switchCurrent(store: SecretsManagerStore, next: string): Promise<void> {
  const token = randomUUID();
  const before = (await store.describe()).versions.find((v) => v.stages.includes(STAGE.CURRENT))!.versionId;
  await store.putPending(token, next);
  await store.moveStage(STAGE.CURRENT, token, before);
  await store.moveStage(STAGE.PENDING, undefined, token);
}

const konnectClient = () => new KonnectClient({ baseUrl: konnect.url, token: async () => TOKEN, timeoutMs: 2_000, sleep: async () => {} });

describe('KongVaultSender with the secretsmanager store (Kong reads AWSCURRENT itself)', () => {
  it('writes nothing on send and reports AWSCURRENT as what Kong sends', async () => {
    const [current, next] = [value(), value()];
    const store = await createSecret(current);
    const sender = new KongVaultSender({ store: 'secretsmanager', ttlSeconds: 300, secretStore: store });
    const calls = recordCalls(recordable(sm));

    await sender.send(next);

    calls.remove();
    expect(calls.calls.map((c) => c.command).filter((c) => !/^(Describe|Get|List)/.test(c))).toEqual([]);
    expect(await sender.sending()).toEqual([current]);
    expect(sender.id).toBe('kong-vault:secretsmanager');

    await switchCurrent(store, next);
    expect(await sender.sending()).toEqual([next]);
  });

  it('has propagated once AWSCURRENT holds the value and the vault TTL plus Kong\'s 60 s check have passed', async () => {
    const [current, next] = [value(), value()];
    const store = await createSecret(current);
    const sender = new KongVaultSender({ store: 'secretsmanager', ttlSeconds: 300, secretStore: store });
    const since = new Date('2026-03-01T10:00:00Z');
    const at = (seconds: number) => new Date(since.getTime() + seconds * 1000);

    expect(await sender.propagated(next, since, at(1_000))).toEqual({ done: false, detail: `vault: AWSCURRENT does not hold ${fingerprint(next)} yet` });

    await switchCurrent(store, next);
    expect(await sender.propagated(next, since, at(100))).toEqual({ done: false, detail: 'vault TTL: 260 s left' });
    expect(await sender.propagated(next, since, at(359.5))).toEqual({ done: false, detail: 'vault TTL: 1 s left' });
    expect(await sender.propagated(next, since, at(360))).toEqual({ done: true, detail: 'vault TTL elapsed' });
    expect((await sender.propagated(next, undefined, at(10_000))).done).toBe(false);
  });

  it('needs the secret store', () => {
    expect(() => new KongVaultSender({ store: 'secretsmanager', ttlSeconds: 300 })).toThrow(/needs secretStore/);
    expect(() => new KongVaultSender({ store: 'konnect-config-store', ttlSeconds: 300 })).toThrow(/needs konnect, controlPlaneId, configStoreId, key/);
  });
});

describe('KongVaultSender with a Konnect Config Store', () => {
  async function arrange() {
    const [cp, cs, key] = [randomUUID(), randomUUID(), 'origin-verify'];
    konnect.addConfigStore(cp, cs);
    const current = value();
    const store = await createSecret(current);
    const make = () =>
      new KongVaultSender({ store: 'konnect-config-store', ttlSeconds: 120, secretStore: store, konnect: konnectClient(), controlPlaneId: cp, configStoreId: cs, key });
    return { cp, cs, key, current, store, make };
  }

  it('writes the value and remembers it (fingerprint only) on the secret, so another process knows it', async () => {
    const { cp, cs, key, current, store, make } = await arrange();
    const writesBefore = konnect.writes().length;

    await make().send(current);
    // A new process: only the secret tag tells what was written, since Konnect never returns values.
    const later = make();
    await later.send(current);

    expect(konnect.writes().length - writesBefore).toBe(1);
    expect(konnect.configStoreSecret(cp, cs, key)?.value).toBe(current);
    expect(await later.sending()).toEqual([current]);
    const tag = (await store.describe()).tags[konnectSentTagKey(cp, cs, key)];
    expect(tag).toMatch(new RegExp(`^${fingerprint(current)} \\d{4}-`));
    expect(tag).not.toContain(current);
  });

  it('notices a write made outside origin-guard, and rewrites on the next send', async () => {
    const { cp, cs, key, current, make } = await arrange();
    await make().send(current);
    konnect.setConfigStoreSecret(cp, cs, key, 'someone-else-wrote-this');
    const sender = make();

    expect(await sender.sending()).toBeUndefined();
    const state = await sender.propagated(current, new Date(0), new Date());
    expect(state.done).toBe(false);
    expect(state.detail).toMatch(/cannot confirm the Konnect Config Store value \(written outside origin-guard/);

    await sender.send(current);
    expect(konnect.configStoreSecret(cp, cs, key)?.value).toBe(current);
    expect(await make().sending()).toEqual([current]);
  });

  it('has propagated after the TTL once the store holds the value', async () => {
    const { current, make } = await arrange();
    const sender = make();
    const since = new Date('2026-03-01T10:00:00Z');
    const at = (seconds: number) => new Date(since.getTime() + seconds * 1000);

    expect((await sender.propagated(current, since, at(500))).detail).toMatch(/does not exist in Config Store/);
    await sender.send(current);
    expect(await sender.propagated(current, since, at(60))).toEqual({ done: false, detail: 'vault TTL: 120 s left' });
    expect(await sender.propagated(current, since, at(180))).toEqual({ done: true, detail: 'vault TTL elapsed' });
    const other = value();
    expect((await sender.propagated(other, since, at(180))).detail).toBe(`vault: the Konnect Config Store holds ${fingerprint(current)}, not ${fingerprint(other)}`);
  });

  it('keeps the value out of errors when Konnect refuses the write', async () => {
    const { current, make } = await arrange();
    konnect.respondNext(1, { status: 400, body: { status: 400, title: 'Bad Request', detail: `value [${current}] is invalid` } }, { method: 'PUT' });

    const error = await make().send(current).catch((e) => e);

    expect(error.message).toContain('answered HTTP 400');
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain(current);
  });
});
