import { randomBytes, randomUUID } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerStore } from '../../lambdas/adapters/secrets-manager.ts';
import { SecretsManagerReadersValidator } from '../../lambdas/adapters/secretsmanager-readers.ts';
import { STAGE, TAG } from '../../lambdas/core/ports.ts';
import { createOriginVerifier, type OriginVerifierOptions, type VerifierResponse } from '../../lambdas/verifier/index.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';

const HEADER = 'X-Kong-Origin-Verify';
const value = () => randomBytes(24).toString('hex');
const faultable = (client: SecretsManagerClient) => client as unknown as Parameters<typeof injectFault>[0];

let sm: SecretsManagerClient;

beforeAll(() => {
  sm = new SecretsManagerClient(emulatorClientConfig());
});
afterAll(() => {
  sm.destroy();
});

/** A secret and the rotation moves the core makes on it (createSecret, finishSecret, retire). */
async function arrangeSecret() {
  const current = value();
  const name = uniqueName('origin-verify');
  await sm.send(new CreateSecretCommand({ Name: name, SecretString: current }));
  const store = new SecretsManagerStore(sm, name);
  const currentId = async () => (await store.describe()).versions.find((v) => v.stages.includes(STAGE.CURRENT))!.versionId;
  return {
    name,
    current,
    store,
    /** createSecret: a new value labelled AWSPENDING. */
    async startRotation(next: string) {
      const token = randomUUID();
      await store.putPending(token, next);
      return token;
    },
    /** finishSecret: senders switched, overlap opened on the old version, AWSCURRENT moved. */
    async finish(token: string) {
      const old = await currentId();
      await store.setTags({ [TAG.OVERLAP_OPENED_AT]: new Date().toISOString(), [TAG.OVERLAP_VERSION]: old });
      await store.moveStage(STAGE.CURRENT, token, old);
      await store.moveStage(STAGE.PENDING, undefined, token);
    },
    /** retire: the overlap ends. */
    async retire() {
      await store.removeTags([TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION]);
    },
  };
}

function verifierFor(name: string, overrides: Partial<OriginVerifierOptions> = {}) {
  return createOriginVerifier({ secretId: name, headerName: HEADER, cacheTtlSeconds: 0, client: sm, ...overrides });
}

describe('createOriginVerifier against Secrets Manager', () => {
  it('accepts the current value and refuses wrong, missing and ambiguous ones', async () => {
    const { name, current } = await arrangeSecret();
    const verifier = verifierFor(name);

    expect(await verifier.verify(current)).toBe(true);
    expect(await verifier.verify([current])).toBe(true);
    expect(await verifier.verify(value())).toBe(false);
    expect(await verifier.verify(current.toUpperCase())).toBe(false);
    expect(await verifier.verify(`${current}x`)).toBe(false);
    expect(await verifier.verify(undefined)).toBe(false);
    expect(await verifier.verify('')).toBe(false);
    expect(await verifier.verify([current, current])).toBe(false);
  });

  it('accepts the pending value during a rotation, and both during the overlap', async () => {
    const secret = await arrangeSecret();
    const verifier = verifierFor(secret.name);
    const next = value();

    const token = await secret.startRotation(next);
    expect(await verifier.verify(secret.current)).toBe(true);
    expect(await verifier.verify(next)).toBe(true);

    await secret.finish(token);
    expect(await verifier.verify(next)).toBe(true);
    expect(await verifier.verify(secret.current)).toBe(true);
  });

  it('starts and keeps working while the pending version has no value yet (the start of a deployed rotation)', async () => {
    const secret = await arrangeSecret();
    await secret.startRotation(value());
    // RotateSecret labels an empty version AWSPENDING before the rotation function fills it.
    const fault = injectFault(faultable(sm), {
      command: 'GetSecretValueCommand',
      error: () => serviceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for VersionId"),
      after: 1, // the current version is read first; the pending one fails
      times: 1,
    });
    const verifier = verifierFor(secret.name);

    expect(await verifier.verify(secret.current)).toBe(true);
    expect(fault.failures).toBe(1);
    expect(await verifier.verify(value())).toBe(false);
    fault.remove();
  });

  it('accepts the previous value only while the overlap tag is present', async () => {
    const secret = await arrangeSecret();
    const verifier = verifierFor(secret.name);
    const next = value();
    const token = await secret.startRotation(next);
    await secret.finish(token);
    expect(await verifier.verify(secret.current)).toBe(true);

    await secret.retire();

    expect(await verifier.verify(next)).toBe(true);
    expect(await verifier.verify(secret.current)).toBe(false);
    // AWSPREVIOUS is still there (for a manual rollback), but without the overlap it is not accepted.
    expect((await secret.store.describe()).versions.some((v) => v.stages.includes(STAGE.PREVIOUS))).toBe(true);
  });

  it('caches for cacheTtlSeconds: one DescribeSecret per refresh, one GetSecretValue per new version', async () => {
    const secret = await arrangeSecret();
    let clock = 1_000_000;
    // Its own client, so the calls recorded are the verifier's only.
    const client = new SecretsManagerClient(emulatorClientConfig());
    const verifier = verifierFor(secret.name, { cacheTtlSeconds: 60, now: () => clock, client });
    const calls = recordCalls(faultable(client));
    const next = value();

    await verifier.verify(secret.current);
    await verifier.verify(value());
    const token = await secret.startRotation(next);
    const seenBeforeTtl = await verifier.verify(next);
    clock += 60_000;
    const seenAfterTtl = await verifier.verify(next);
    clock += 60_000;
    await verifier.verify(next);

    calls.remove();
    client.destroy();
    const reads = calls.calls;
    expect(seenBeforeTtl).toBe(false);
    expect(seenAfterTtl).toBe(true);
    expect(reads.map((c) => c.command)).toEqual([
      'DescribeSecretCommand',
      'GetSecretValueCommand',
      'DescribeSecretCommand',
      'GetSecretValueCommand',
      'DescribeSecretCommand',
    ]);
    expect(reads[3].input.VersionId).toBe(token);
  });

  it('keeps serving the last known values when a refresh fails', async () => {
    const secret = await arrangeSecret();
    let clock = 1_000_000;
    const errors: unknown[] = [];
    const verifier = verifierFor(secret.name, { cacheTtlSeconds: 60, now: () => clock, onRefreshError: (e) => errors.push(e) });
    expect(await verifier.verify(secret.current)).toBe(true);
    const fault = injectFault(faultable(sm), { command: 'DescribeSecretCommand', error: () => serviceError('InternalServiceError', 'boom', 500) });

    try {
      clock += 61_000;
      expect(await verifier.verify(secret.current)).toBe(true);
      expect(await verifier.verify(value())).toBe(false);
      await expect(verifier.refresh()).rejects.toThrow(`cannot describe secret ${secret.name}`);
    } finally {
      fault.remove();
    }
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(String(errors[0])).not.toContain(secret.current);

    // Once Secrets Manager answers again (after the retry delay), changes are picked up.
    clock += 61_000;
    const next = value();
    await secret.startRotation(next);
    expect(await verifier.verify(next)).toBe(true);
  });

  it('fails closed when it never loaded', async () => {
    const secret = await arrangeSecret();
    const fault = injectFault(faultable(sm), { command: 'DescribeSecretCommand', error: () => serviceError('AccessDeniedException', 'denied', 400) });
    try {
      const verifier = verifierFor(secret.name, { cacheTtlSeconds: 60 });
      expect(await verifier.verify(secret.current)).toBe(false);
    } finally {
      fault.remove();
    }
    expect(await verifierFor(uniqueName('does-not-exist')).verify('anything')).toBe(false);
  });

  it('works as Express / Connect middleware: next() when verified, 403 otherwise', async () => {
    const { name, current } = await arrangeSecret();
    const middleware = verifierFor(name).middleware();
    const run = (headers: Record<string, string | undefined>) =>
      new Promise<{ next: boolean; status?: number; body?: string }>((resolve) => {
        const res: VerifierResponse = { statusCode: 200, setHeader: () => undefined, end: (body) => resolve({ next: false, status: res.statusCode, body }) };
        middleware({ headers }, res, () => resolve({ next: true }));
      });

    expect(await run({ 'x-kong-origin-verify': current })).toEqual({ next: true });
    expect(await run({ 'x-kong-origin-verify': value() })).toEqual({ next: false, status: 403, body: 'Forbidden' });
    expect(await run({})).toEqual({ next: false, status: 403, body: 'Forbidden' });
  });

  it('agrees with the secretsmanager-readers validator at every step', async () => {
    const secret = await arrangeSecret();
    const readers = new SecretsManagerReadersValidator({ store: secret.store, cacheTtlSeconds: 300 });
    const verifier = verifierFor(secret.name);
    const next = value();
    const agree = async () => {
      const accepted = await readers.accepted();
      for (const v of [secret.current, next]) expect(await verifier.verify(v)).toBe(accepted.includes(v));
      return accepted;
    };

    expect(await agree()).toEqual([secret.current]);
    const token = await secret.startRotation(next);
    expect(await agree()).toEqual([secret.current, next]);
    await readers.accept([secret.current, next]);
    await secret.finish(token);
    expect(await agree()).toEqual([next, secret.current]);
    await secret.retire();
    expect(await agree()).toEqual([next]);
    expect(readers.propagationSeconds).toBe(300);
    expect(readers.id).toBe('secretsmanager-readers');
  });
});
