/** The emergency flag names its rotation; probes prove something or say they could not. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config.ts';
import { RotationFailedError } from '../../lambdas/core/errors.ts';
import { STAGE, TAG, type ProbePort, type SecretDescription } from '../../lambdas/core/ports.ts';
import { rotationView } from '../../lambdas/core/rotation-state.ts';
import { classifyProbe, retire, rotateInProcess, runRotationStep, type RotationDeps, type RotationSettings } from '../../lambdas/core/rotation.ts';
import { FakeClock, Failure, MemoryAlerts, MemorySecretStore, MemorySender, MemoryValidator } from '../support/memory-targets.ts';

const OLD = 'old-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const settings: RotationSettings = { name: 'cdn-to-gateway', headerName: 'X-Origin-Verify', overlapMinutes: 30 };

function world(probe?: ProbePort) {
  const clock = new FakeClock();
  const store = new MemorySecretStore('origin-guard/cdn-to-gateway', clock, OLD);
  const senders = [new MemorySender('cloudfront:E1', OLD)];
  const validators = [new MemoryValidator('kong-route:api', 5, clock, [OLD])];
  const alerts = new MemoryAlerts();
  const warnings: string[] = [];
  const deps: RotationDeps = {
    store,
    senders,
    validators,
    clock,
    alerts,
    probe,
    log: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} },
  };
  return { clock, store, senders, validators, alerts, warnings, deps };
}

describe('the emergency flag', () => {
  const secret = (tags: Record<string, string>): SecretDescription => ({
    arn: 'arn',
    name: 'n',
    rotationEnabled: true,
    tags,
    versions: [
      { versionId: 'v1', stages: [STAGE.CURRENT] },
      { versionId: 'v0', stages: [STAGE.PREVIOUS] },
    ],
  });

  it('counts only for the rotation it names: a flag left by an earlier rotation, or the old "true", is ignored', () => {
    const overlap = { [TAG.OVERLAP_VERSION]: 'v0', [TAG.OVERLAP_OPENED_AT]: '2026-01-01T00:00:00.000Z' };
    expect(rotationView(secret({ ...overlap, [TAG.EMERGENCY]: 'v1' })).emergency).toBe(true);
    expect(rotationView(secret({ ...overlap, [TAG.EMERGENCY]: 'v0' })).emergency).toBe(false);
    expect(rotationView(secret({ ...overlap, [TAG.EMERGENCY]: 'true' })).emergency).toBe(false);
  });

  it('is the token of the emergency rotation and is cleared when that rotation is rolled back', async () => {
    const w = world();
    w.validators[0]!.faults.fail(new Failure('accepted', 1, 1));
    await expect(rotateInProcess(settings, w.deps, { emergency: true, token: 't1' })).rejects.toBeInstanceOf(RotationFailedError);
    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
    expect(w.store.tags[TAG.LAST_ERROR]).toMatch(/failed in testSecret: .*kong-route:api.* Rolled back/);
  });

  it('is cleared when a step of its rotation refuses (deployed path)', async () => {
    const w = world();
    w.store.labelEmptyPending('t1');
    w.store.tags[TAG.EMERGENCY] = 't1';
    w.senders[0]!.configured = 'hand-configured-value-GGGGGGGGGGGGGGGGGGGGGGGGGG';
    await expect(runRotationStep('createSecret', 't1', settings, w.deps)).rejects.toThrow(/refusing to rotate/);
    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
  });
});

describe('probes', () => {
  it('classifies answers: 2xx/3xx accepted, the configured status refused, anything else inconclusive', () => {
    expect(classifyProbe({ status: 200 }, 404)).toBe('accepted');
    expect(classifyProbe({ status: 302 }, undefined)).toBe('accepted');
    expect(classifyProbe({ status: 404 }, 404)).toBe('refused');
    expect(classifyProbe({ status: 403 }, 404)).toBe('inconclusive');
    expect(classifyProbe({ status: 403 }, undefined)).toBe('refused');
    expect(classifyProbe({ status: 502 }, undefined)).toBe('inconclusive');
    expect(classifyProbe({ error: 'ECONNREFUSED' }, 404)).toBe('inconclusive');
    expect(classifyProbe({ error: 'TimeoutError' }, undefined)).toBe('inconclusive');
  });

  it('a network error is inconclusive: the rotation relies on the read-backs and does not roll back', async () => {
    const w = world({ request: async () => ({ error: 'ETIMEDOUT' }) });
    await rotateInProcess({ ...settings, probeUrl: 'https://origin.example.com/', probeRefusedStatus: 404 }, w.deps, { token: 't1' });
    expect(w.store.stageValue(STAGE.CURRENT)).not.toBe(OLD);
    expect(w.warnings.filter((m) => m.includes('inconclusive'))).toHaveLength(2);
  });

  it('the configured refusal status for the pending value rolls the rotation back', async () => {
    const w = world({ request: async () => ({ status: 404 }) });
    await expect(rotateInProcess({ ...settings, probeUrl: 'https://origin.example.com/', probeRefusedStatus: 404 }, w.deps, { token: 't1' })).rejects.toThrow(
      /pending value was refused \(404\)/,
    );
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(OLD);
  });

  it('config: probeUrl must be https (loopback excepted) and probeRefusedStatus an HTTP error status', () => {
    const base = {
      region: 'eu-west-1',
      secrets: [
        {
          name: 'cdn-to-gateway',
          secretName: 'origin-guard/cdn-to-gateway',
          headerName: 'X-Origin-Verify',
          senders: [{ type: 'cloudfront', distributionId: 'E2EXAMPLE' }],
          validators: [{ type: 'kong-route', adminUrl: 'https://kong:8444', routes: ['api'] }],
        },
      ],
    };
    const withProbe = (probeUrl: string, probeRefusedStatus?: number) => ({ ...base, secrets: [{ ...base.secrets[0], probeUrl, probeRefusedStatus }] });
    expect(() => parseConfig(withProbe('http://origin.example.com/'))).toThrow(/secrets\[0\]\.probeUrl: must be an https:\/\/ URL/);
    expect(parseConfig(withProbe('https://origin.example.com/', 404)).secrets[0]!.probeRefusedStatus).toBe(404);
    expect(parseConfig(withProbe('http://127.0.0.1:8080/health')).secrets[0]!.probeUrl).toBe('http://127.0.0.1:8080/health');
    expect(() => parseConfig(withProbe('https://origin.example.com/', 200))).toThrow(/secrets\[0\]\.probeRefusedStatus/);
  });
});

/** A write-only store (a Konnect Config Store key): after someone else writes it, its value is unknown. */
class WriteOnlySender extends MemorySender {
  overwritten = false;
  writes = 0;
  override async send(value: string) {
    this.writes++;
    this.overwritten = false;
    await super.send(value);
  }
  override async sending(): Promise<string[]> {
    // A write-only store shows nothing; the sender port allows undefined, the memory sender's type does not.
    return this.overwritten ? (undefined as unknown as string[]) : [this.configured];
  }
  override async propagated(value: string) {
    if (this.overwritten) return { done: false, unknown: true, detail: 'written outside origin-guard' };
    return super.propagated(value);
  }
}

describe('a sender whose value became unknown', () => {
  it('is rewritten with the current value by retire, which then retires once the rewrite propagated', async () => {
    const w = world();
    const konnect = new WriteOnlySender('kong-vault:konnect-config-store', OLD);
    w.deps.senders.push(konnect);
    await rotateInProcess(settings, w.deps, { token: 't1' });
    w.senders.forEach((s) => s.finishDeploying());
    konnect.finishDeploying();
    w.clock.advance(31 * 60_000);
    konnect.overwritten = true; // someone wrote the key by hand
    const current = w.store.stageValue(STAGE.CURRENT)!;

    const first = await retire(settings, w.deps);

    expect(first.status).toBe('waiting');
    expect(first.reason).toMatch(/rewritten at/);
    expect(konnect.configured).toBe(current);
    expect(w.validators[0]!.configured).toContain(OLD); // still overlapping: the old value stays accepted
    // The propagation clock restarted from the rewrite: nothing retires before the window has passed again.
    expect(w.store.tags[TAG.OVERLAP_OPENED_AT]).toBe(w.clock.now().toISOString());
    konnect.finishDeploying();
    w.clock.advance(31 * 60_000);
    expect((await retire(settings, w.deps)).status).toBe('retired');
    expect(w.validators[0]!.configured).toEqual([current]);
  });
});
