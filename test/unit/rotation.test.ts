import { describe, expect, it } from 'vitest';
import { RotationFailedError, RotationStateError } from '../../lambdas/core/errors.ts';
import { STAGE, TAG, type LogPort } from '../../lambdas/core/ports.ts';
import { adopt, retire, rotateInProcess, runRotationStep, waitAndRetire, type RotationDeps, type RotationSettings } from '../../lambdas/core/rotation.ts';
import { FakeClock, Failure, MemoryAlerts, MemorySecretStore, MemorySender, MemoryValidator, unsafePairs } from '../support/memory-targets.ts';

const OLD = 'old-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const NEW = 'new-value-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

const settings: RotationSettings = { name: 'cdn-to-gateway', headerName: 'X-Origin-Verify', overlapMinutes: 30 };

/** A secret with two senders and two validators, checked for refused traffic after every single port call. */
function world(options: { overlapMinutes?: number } = {}) {
  const clock = new FakeClock();
  const store = new MemorySecretStore('origin-guard/cdn-to-gateway', clock, OLD);
  const senders = [new MemorySender('cloudfront:E1', OLD), new MemorySender('cloudfront:E2', OLD)];
  const validators = [new MemoryValidator('wafv2:REGIONAL/acl/origin-verify', 60, clock, [OLD]), new MemoryValidator('kong-route:api', 5, clock, [OLD])];
  const alerts = new MemoryAlerts();
  const logs: string[] = [];
  const log: LogPort = {
    debug: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
    info: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
    warn: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
    error: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
  };
  const violations: string[] = [];
  const check = () => violations.push(...unsafePairs(senders, validators));
  const watched = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, key, receiver) {
        const member = Reflect.get(obj, key, receiver);
        if (typeof member !== 'function') return member;
        return async (...args: unknown[]) => {
          try {
            return await member.apply(obj, args);
          } finally {
            check();
          }
        };
      },
    });
  let n = 0;
  const deps: RotationDeps = {
    store: watched(store),
    senders: senders.map(watched),
    validators: validators.map(watched),
    clock,
    log,
    alerts,
    generateValue: () => (n++ === 0 ? NEW : `next-value-${n}-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC`),
  };
  const s = { ...settings, overlapMinutes: options.overlapMinutes ?? settings.overlapMinutes };
  return { clock, store, senders, validators, alerts, logs, violations, deps, settings: s };
}

async function allSteps(w: ReturnType<typeof world>, token: string) {
  for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    await runRotationStep(step, token, w.settings, w.deps);
  }
}

describe('rotation core', () => {
  it('switches senders only after every validator accepts both values and has propagated', async () => {
    const w = world();
    await allSteps(w, 't1');

    expect(w.senders.map((s) => s.configured)).toEqual([NEW, NEW]);
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    expect(w.store.tags[TAG.OVERLAP_VERSION]).toBe('v0');
    expect(w.clock.slept).toBe(60_000); // the slowest validator's propagation, once
    expect(w.violations).toEqual([]);
  });

  it('keeps the overlap open until the window has passed and every sender has propagated', async () => {
    const w = world();
    await allSteps(w, 't1');

    expect((await retire(w.settings, w.deps)).status).toBe('waiting');
    w.clock.advance(31 * 60_000);
    const waiting = await retire(w.settings, w.deps);
    expect(waiting).toMatchObject({ status: 'waiting', reason: expect.stringContaining('cloudfront:E1') });
    expect(w.validators[0].configured).toEqual([OLD, NEW]);

    w.senders.forEach((s) => s.finishDeploying());
    expect((await retire(w.settings, w.deps)).status).toBe('retired');
    expect(w.validators.map((v) => v.configured)).toEqual([[NEW], [NEW]]);
    expect(w.store.tags[TAG.OVERLAP_OPENED_AT]).toBeUndefined();
    expect((await retire(w.settings, w.deps)).status).toBe('nothing-to-retire');
    expect(w.violations).toEqual([]);
  });

  it('is idempotent: every step can run twice with the same token', async () => {
    const w = world();
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await runRotationStep(step, 't1', w.settings, w.deps);
      await runRotationStep(step, 't1', w.settings, w.deps);
    }
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
    expect([...w.store.versions.keys()]).toEqual(['v0', 't1']);
    expect(w.senders.map((s) => s.configured)).toEqual([NEW, NEW]);
    expect(w.violations).toEqual([]);
  });

  it('resumes after a crash between any two steps with the same token', async () => {
    for (let crashAfter = 1; crashAfter <= 3; crashAfter++) {
      const w = world();
      const steps = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
      for (const step of steps.slice(0, crashAfter)) await runRotationStep(step, 't1', w.settings, w.deps);
      // The process died here; Secrets Manager retries the step that did not report success, then goes on.
      for (const step of steps.slice(crashAfter - 1)) await runRotationStep(step, 't1', w.settings, w.deps);
      expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
      expect(w.violations).toEqual([]);
    }
  });

  it('rolls a failed setSecret back: validators accept only current, AWSPENDING cleared, one alert naming the target', async () => {
    const w = world();
    w.validators[1].faults.fail(new Failure('accept'));
    await runRotationStep('createSecret', 't1', w.settings, w.deps);

    const error = await runRotationStep('setSecret', 't1', w.settings, w.deps).catch((e) => e);

    expect(error).toBeInstanceOf(RotationFailedError);
    expect(error.target).toBeUndefined(); // a plain Error, not a TargetError from an adapter
    expect(error.message).toContain('setSecret');
    expect(w.validators.map((v) => v.configured)).toEqual([[OLD], [OLD]]);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    expect(w.alerts.events).toHaveLength(1);
    expect(w.alerts.events[0]).toMatchObject({ kind: 'FAILURE', finding: { checkId: 'rotation.failed', resource: 'cdn-to-gateway' } });
    expect(w.violations).toEqual([]);

    // The same token is refused past createSecret, and a retried createSecret starts over cleanly.
    await expect(runRotationStep('testSecret', 't1', w.settings, w.deps)).rejects.toBeInstanceOf(RotationStateError);
    await rotateInProcess(w.settings, w.deps, { token: 't2' });
    expect(w.store.stageValue(STAGE.CURRENT)).not.toBe(OLD);
    expect(w.violations).toEqual([]);
  });

  it('rolls back when a validator reads back something else than it was told', async () => {
    const w = world();
    await runRotationStep('createSecret', 't1', w.settings, w.deps);
    await runRotationStep('setSecret', 't1', w.settings, w.deps);
    w.validators[0].configured = [OLD]; // someone edited the rule in between

    await expect(runRotationStep('testSecret', 't1', w.settings, w.deps)).rejects.toThrow(/read back does not accept the pending value/);
    expect(w.validators.map((v) => v.configured)).toEqual([[OLD], [OLD]]);
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
    expect(w.violations).toEqual([]);
  });

  it('rolls a failed finishSecret back: senders return to current and the attempted value stays accepted until retire', async () => {
    const w = world({ overlapMinutes: 0 });
    w.senders[1].faults.fail(new Failure('send'));
    await runRotationStep('createSecret', 't1', w.settings, w.deps);
    await runRotationStep('setSecret', 't1', w.settings, w.deps);
    await runRotationStep('testSecret', 't1', w.settings, w.deps);

    const error = await runRotationStep('finishSecret', 't1', w.settings, w.deps).catch((e) => e);

    expect(error).toBeInstanceOf(RotationFailedError);
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(OLD);
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    // Sender 1 sent NEW for a while; its edges may still send it.
    expect(w.validators[0].configured).toEqual([OLD, NEW]);
    expect((await retire(w.settings, w.deps)).status).toBe('waiting');
    w.senders.forEach((s) => s.finishDeploying());
    expect((await retire(w.settings, w.deps)).status).toBe('retired');
    expect(w.validators.map((v) => v.configured)).toEqual([[OLD], [OLD]]);
    expect(w.violations).toEqual([]);

    await rotateInProcess(w.settings, w.deps, { token: 't2' });
    expect(w.senders.map((s) => s.configured)).toEqual([w.store.stageValue(STAGE.CURRENT), w.store.stageValue(STAGE.CURRENT)]);
    expect(w.violations).toEqual([]);
  });

  it('refuses a new rotation while the previous overlap is open and changes nothing', async () => {
    const w = world();
    await allSteps(w, 't1');
    const before = JSON.stringify(w.validators.map((v) => v.configured));

    await expect(runRotationStep('createSecret', 't2', w.settings, w.deps)).rejects.toThrow(/overlap of the previous rotation is still open/);
    expect(JSON.stringify(w.validators.map((v) => v.configured))).toBe(before);
    expect(w.store.versions.has('t2')).toBe(false);
  });

  it('retires the previous overlap first when it is due, so rotations can run back to back', async () => {
    const w = world({ overlapMinutes: 0 });
    await rotateInProcess(w.settings, w.deps, { token: 't1' });
    w.senders.forEach((s) => s.finishDeploying());

    await rotateInProcess(w.settings, w.deps, { token: 't2' });

    const current = w.store.stageValue(STAGE.CURRENT)!;
    expect(current).not.toBe(NEW);
    expect(w.validators[0].configured).toEqual([NEW, current]);
    expect(w.violations).toEqual([]);
  });

  it('refuses to start a second rotation while one is unfinished, and rotateInProcess resumes it', async () => {
    const w = world();
    await runRotationStep('createSecret', 't1', w.settings, w.deps);
    await runRotationStep('setSecret', 't1', w.settings, w.deps);

    await expect(runRotationStep('createSecret', 't9', w.settings, w.deps)).rejects.toThrow(/earlier rotation \(token t1\)/);
    const result = await rotateInProcess(w.settings, w.deps);
    expect(result).toMatchObject({ token: 't1', resumed: true });
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
    expect(w.violations).toEqual([]);
  });

  it('emergency: retires as soon as the senders have propagated, and not before', async () => {
    const w = world({ overlapMinutes: 30 });
    let polls = 0;
    let checkedBeforeDeployed = 0;
    const sleep = w.clock.sleep.bind(w.clock);
    w.clock.sleep = async (ms: number) => {
      await sleep(ms);
      // Edges finish deploying a few polls after the senders switched.
      if (w.senders.every((s) => s.configured === NEW) && ++polls === 3) w.senders.forEach((s) => s.finishDeploying());
      if (polls < 3) {
        checkedBeforeDeployed += 1;
        expect(w.validators[0].configured).toContain(OLD);
      }
    };

    const result = await rotateInProcess(w.settings, w.deps, { emergency: true, token: 't1' });

    // The check inside the sleep ran while the edges were still deploying (polls 1 and 2 at least).
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(checkedBeforeDeployed).toBeGreaterThanOrEqual(2);
    expect(result.retire?.status).toBe('retired');
    expect(w.validators.map((v) => v.configured)).toEqual([[NEW], [NEW]]);
    expect(w.clock.now().getTime() - Date.parse('2026-01-01T00:00:00Z')).toBeLessThan(30 * 60_000);
    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
    expect(w.violations).toEqual([]);
  });

  it('waitAndRetire gives up after its timeout and leaves the overlap open', async () => {
    const w = world({ overlapMinutes: 0 });
    await rotateInProcess(w.settings, w.deps, { token: 't1' });

    const result = await waitAndRetire(w.settings, w.deps, { timeoutMs: 60_000, pollMs: 5_000 });

    expect(result.status).toBe('waiting');
    expect(w.validators[0].configured).toEqual([OLD, NEW]);
  });

  it('never writes a secret value to the logs, errors or alerts', async () => {
    const w = world({ overlapMinutes: 0 });
    w.senders[1].faults.fail(new Failure('send'));
    const error = await rotateInProcess(w.settings, w.deps, { token: 't1' }).catch((e) => e);
    w.senders.forEach((s) => s.finishDeploying());
    await retire(w.settings, w.deps);
    await rotateInProcess(w.settings, w.deps, { token: 't2' });

    const everything = [...w.logs, String(error?.message), JSON.stringify(w.alerts.events)].join('\n');
    const values = [...w.store.versions.values()].map((v) => v.value);
    expect(values.length).toBeGreaterThanOrEqual(3);
    for (const value of values) expect(everything).not.toContain(value);
    expect(everything).toMatch(/[0-9a-f]{8}/); // fingerprints are there instead
  });
});

describe('onboarding guard and adopt', () => {
  it('refuses to start a rotation when a sender does not send the current value, and changes nothing', async () => {
    const w = world();
    w.senders[1].configured = 'hand-configured-value-DDDDDDDDDDDDDDDDDDDDDDDDDDD';

    const error = await runRotationStep('createSecret', 't1', w.settings, w.deps).catch((e) => e);

    expect(error).toBeInstanceOf(RotationStateError);
    expect(error.message).toMatch(/cloudfront:E2 sends [0-9a-f]{8}, not the current value/);
    expect(error.message).toContain('origin-guard adopt --secret cdn-to-gateway');
    expect(error.message).not.toContain('hand-configured-value');
    expect(w.store.versions.has('t1')).toBe(false);
    expect(w.validators.map((v) => v.acceptCalls.length)).toEqual([0, 0]);
  });

  it('refuses when a sender sends no header at all (the first rotation would block every request)', async () => {
    const w = world();
    w.senders[0].sending = async () => [];
    await expect(runRotationStep('createSecret', 't1', w.settings, w.deps)).rejects.toThrow(/cloudfront:E1 sends no X-Origin-Verify header/);
  });

  it('adopts the value senders send when every validator accepts it, then rotates from it safely', async () => {
    const w = world();
    const inUse = 'value-set-by-hand-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE';
    for (const s of w.senders) (s.configured = inUse), s.finishDeploying();
    for (const v of w.validators) await v.accept([inUse]);
    w.clock.advance(120_000);

    expect(await adopt(w.settings, w.deps, 'adopted')).toMatchObject({ status: 'adopted' });
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(inUse);
    expect(await adopt(w.settings, w.deps)).toMatchObject({ status: 'already-current' });

    await rotateInProcess(w.settings, w.deps, { token: 't1' });
    expect(w.validators[0].configured).toEqual([inUse, NEW]);
    expect(w.violations).toEqual([]);
  });

  it('will not adopt when senders disagree or a validator refuses their value', async () => {
    const w = world();
    w.senders[0].configured = 'one-value-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF';
    await expect(adopt(w.settings, w.deps)).rejects.toThrow(/senders disagree/);

    w.senders[1].configured = w.senders[0].configured;
    await expect(adopt(w.settings, w.deps)).rejects.toThrow(/does not accept [0-9a-f]{8}, the value senders send/);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(OLD);
  });
});

describe('crash inside finishSecret', () => {
  it('a retry after AWSCURRENT moved finishes the step: senders on the new value, no pending label, no stale validators-set tag', async () => {
    const w = world();
    await allSteps(w, 't1');
    // The process died after the stage moved, before the step's last writes.
    w.store.tags[TAG.VALIDATORS_SET_AT] = w.clock.now().toISOString();
    w.store.versions.get('t1')!.stages.add(STAGE.PENDING);

    await runRotationStep('finishSecret', 't1', w.settings, w.deps);

    expect(w.store.tags[TAG.VALIDATORS_SET_AT]).toBeUndefined();
    expect(w.store.stageValue(STAGE.PENDING)).toBeUndefined();
    expect(w.senders.map((s) => s.configured)).toEqual([NEW, NEW]);
    expect(w.violations).toEqual([]);
  });

  it('dates the overlap from the stage move, which is when a vault-reading sender switches', async () => {
    const w = world();
    const moveStage = w.store.moveStage.bind(w.store);
    w.store.moveStage = async (stage, to, from) => {
      w.clock.advance(1_000); // a slow Secrets Manager call
      return moveStage(stage, to, from);
    };
    await runRotationStep('createSecret', 't1', w.settings, w.deps);
    await runRotationStep('setSecret', 't1', w.settings, w.deps);
    await runRotationStep('testSecret', 't1', w.settings, w.deps);
    const beforeFinish = w.clock.now().getTime();

    await runRotationStep('finishSecret', 't1', w.settings, w.deps);

    expect(Date.parse(w.store.tags[TAG.OVERLAP_OPENED_AT])).toBeGreaterThanOrEqual(beforeFinish + 2_000);
  });
});

describe('the deployed path: Secrets Manager labels an empty version AWSPENDING before createSecret', () => {
  it('fills the empty pending version and rotates', async () => {
    const w = world();
    w.store.labelEmptyPending('t1');

    await allSteps(w, 't1');

    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
    expect(w.senders.map((s) => s.configured)).toEqual([NEW, NEW]);
    expect(w.violations).toEqual([]);
  });

  it('retires a due overlap first, even though its own empty pending version is there', async () => {
    const w = world({ overlapMinutes: 0 });
    await rotateInProcess(w.settings, w.deps, { token: 't1' });
    w.senders.forEach((s) => s.finishDeploying());
    w.store.labelEmptyPending('t2');

    await allSteps(w, 't2');

    expect(w.store.stageValue(STAGE.CURRENT)).not.toBe(NEW);
    expect(w.validators[0].configured).toEqual([NEW, w.store.stageValue(STAGE.CURRENT)]);
    expect(w.violations).toEqual([]);
  });

  it('when it refuses, takes AWSPENDING off the empty version so later rotations are not blocked, and alerts', async () => {
    const w = world();
    await allSteps(w, 't1'); // overlap open, window not passed
    w.store.labelEmptyPending('t2');

    await expect(runRotationStep('createSecret', 't2', w.settings, w.deps)).rejects.toThrow(/overlap of the previous rotation is still open/);

    expect(w.store.versions.get('t2')!.stages.size).toBe(0);
    expect(w.alerts.events.at(-1)).toMatchObject({ kind: 'FAILURE', finding: { checkId: 'rotation.refused', severity: 'MEDIUM' } });
    expect(w.validators[0].configured).toEqual([OLD, NEW]); // the open overlap is untouched
  });
});

describe('races and emergencies', () => {
  it('finishSecret re-checks validators and does not switch senders when one was narrowed after testSecret', async () => {
    const w = world();
    await runRotationStep('createSecret', 't1', w.settings, w.deps);
    await runRotationStep('setSecret', 't1', w.settings, w.deps);
    await runRotationStep('testSecret', 't1', w.settings, w.deps);
    await w.validators[1].accept([OLD]); // a concurrent retire or config sync

    await expect(runRotationStep('finishSecret', 't1', w.settings, w.deps)).rejects.toThrow(/kong-route:api: no longer accepts both/);

    expect(w.senders[0].sendCalls).toBe(1); // only the rollback's no-op send of the current value
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
    expect(w.violations).toEqual([]);
  });

  it('an emergency rotation started while an overlap is open keeps its emergency flag and retires at once', async () => {
    const w = world({ overlapMinutes: 30 });
    await rotateInProcess(w.settings, w.deps, { token: 't1' }); // the scheduled rotation; the leak is found now
    w.senders.forEach((s) => s.finishDeploying());
    let polls = 0;
    const sleep = w.clock.sleep.bind(w.clock);
    w.clock.sleep = async (ms: number) => {
      await sleep(ms);
      // The edges finish deploying a few polls after the senders switched to the emergency value.
      if (w.senders.every((s) => s.configured !== NEW) && ++polls === 3) w.senders.forEach((s) => s.finishDeploying());
    };

    const result = await rotateInProcess(w.settings, w.deps, { emergency: true, token: 't2' });

    expect(result.retire?.status).toBe('retired');
    const current = w.store.stageValue(STAGE.CURRENT)!;
    expect(w.validators.map((v) => v.configured)).toEqual([[current], [current]]);
    expect(w.clock.now().getTime() - Date.parse('2026-01-01T00:00:00Z')).toBeLessThan(30 * 60_000);
    expect(w.violations).toEqual([]);
  });

  it('a refused emergency rotation leaves no emergency flag behind for the next ordinary rotation', async () => {
    const w = world();
    w.senders[0].configured = 'hand-configured-value-GGGGGGGGGGGGGGGGGGGGGGGGGG';

    await expect(rotateInProcess(w.settings, w.deps, { emergency: true, token: 't1' })).rejects.toThrow(/refusing to rotate/);

    expect(w.store.tags[TAG.EMERGENCY]).toBeUndefined();
  });
});
