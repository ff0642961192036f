/**
 * Deadlines instead of timeouts: a step whose run has less time left than its wait (plus the margin for
 * read-backs and rollback) stops cleanly before the deadline, leaves every value in use accepted, alerts
 * `rotation.stopped` without any value, and the next invocation resumes without waiting again.
 */
import { describe, expect, it } from 'vitest';
import { RotationStoppedError } from '../../lambdas/core/errors.ts';
import { clockWithBudget, STAGE, TAG, type Clock } from '../../lambdas/core/ports.ts';
import { progressTags } from '../../lambdas/core/rotation-state.ts';
import { DEADLINE_MARGIN_MS, ROTATION_STEPS, runRotationStep, type RotationDeps, type RotationSettings } from '../../lambdas/core/rotation.ts';
import { MemoryLeases, MemoryLeaseTable } from '../support/memory-lease.ts';
import { FakeClock, MemoryAlerts, MemorySecretStore, MemorySender, MemoryValidator, unsafePairs } from '../support/memory-targets.ts';

const OLD = 'old-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const NEW = 'new-value-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const settings: RotationSettings = { name: 'cdn-to-gateway', headerName: 'X-Origin-Verify', overlapMinutes: 30 };

function world() {
  const clock = new FakeClock();
  const store = new MemorySecretStore('origin-guard/cdn-to-gateway', clock, OLD);
  const senders = [new MemorySender('cloudfront:E1', OLD)];
  // A reader cache of 300 s: the slowest wait.
  const validators = [new MemoryValidator('wafv2:REGIONAL/acl/origin-verify', 60, clock, [OLD]), new MemoryValidator('secretsmanager-readers', 300, clock, [OLD])];
  const alerts = new MemoryAlerts();
  const logs: string[] = [];
  const table = new MemoryLeaseTable(() => clock.now());
  /** One Lambda invocation: its own clock deadline, as `context.getRemainingTimeInMillis()` gives it. */
  const invocation = (timeoutMs: number): RotationDeps => ({
    store,
    senders,
    validators,
    clock: clockWithBudget(clock, timeoutMs),
    log: {
      debug: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
      info: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
      warn: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
      error: (m, ...e) => logs.push(JSON.stringify([m, ...e])),
    },
    alerts,
    leases: new MemoryLeases(table, `lambda:rotation:${timeoutMs}`),
    generateValue: () => NEW,
  });
  return { clock, store, senders, validators, alerts, logs, table, invocation };
}

describe('rotation deadlines', () => {
  it('stops testSecret before its deadline, alerts, and the next invocation finishes without waiting again', async () => {
    const w = world();
    const short = w.invocation(200_000); // 200 s left: less than the 300 s wait + the margin
    await runRotationStep('createSecret', 't1', settings, short);
    await runRotationStep('setSecret', 't1', settings, short);
    const setAt = Date.parse(w.store.tags[TAG.VALIDATORS_SET_AT]!);
    w.clock.advance(100_000); // Secrets Manager's next invocation comes a while later

    const stopped = await runRotationStep('testSecret', 't1', settings, short).catch((error) => error);

    // Stopped at once, well before the deadline, rather than sleep into a timeout.
    expect(stopped).toBeInstanceOf(RotationStoppedError);
    expect(w.clock.slept).toBe(0);
    expect(stopped.message).toMatch(/stopped in testSecret before its deadline: 200 s of validator propagation \(secretsmanager-readers\) remain/);
    // Nothing rolled back: both values still accepted, senders on the current one, AWSPENDING kept.
    expect(w.validators.map((v) => v.configured)).toEqual([
      [OLD, NEW],
      [OLD, NEW],
    ]);
    expect(w.senders[0]!.configured).toBe(OLD);
    expect(w.store.stageValue(STAGE.PENDING)).toBe(NEW);
    // Progress in the tags: what it waits for and until when; the alert names the step, and no value anywhere.
    const progress = progressTags(w.store.tags, w.clock.now())!;
    expect(progress.step).toBe('testSecret t1');
    expect(progress.until).toBe(new Date(setAt + 300_000).toISOString());
    expect(progress.etaSeconds).toBe(200);
    expect(progress.lastError).toMatch(/stopped in testSecret/);
    expect(w.alerts.events).toHaveLength(1);
    expect(w.alerts.events[0]!.finding).toMatchObject({ checkId: 'rotation.stopped', severity: 'MEDIUM', details: { step: 'testSecret', resumable: true } });
    expect([...w.table.items.keys()]).toEqual([]); // the lease was released

    // Secrets Manager retries: every step runs again with the same token, in a fresh invocation.
    w.clock.advance(50_000);
    const next = w.invocation(480_000);
    for (const step of ROTATION_STEPS) await runRotationStep(step, 't1', settings, next);

    // It waited only what was left of the 300 s (150 s), not 300 s again: setSecret kept the propagation clock.
    expect(w.clock.slept).toBe(150_000);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
    expect(w.senders[0]!.configured).toBe(NEW);
    expect(progressTags(w.store.tags, w.clock.now())).toBeUndefined();
    expect(JSON.stringify([w.logs, w.alerts.events, w.store.tags])).not.toContain(NEW);
    expect(JSON.stringify([w.logs, w.alerts.events, w.store.tags])).not.toContain(OLD);
  });

  it('a step with enough time waits through, extending its lease, and never stops', async () => {
    const w = world();
    const deps = w.invocation(300_000 + DEADLINE_MARGIN_MS + 1_000);
    for (const step of ROTATION_STEPS) await runRotationStep(step, 't1', settings, deps);
    expect(w.clock.slept).toBe(300_000);
    expect(w.alerts.events).toEqual([]);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(NEW);
  });

  it('at every instant of a stopped and resumed rotation, every value a sender sends is accepted', async () => {
    const w = world();
    const violations: string[] = [];
    const clock: Clock = w.clock;
    const check = () => violations.push(...unsafePairs(w.senders, w.validators));
    const short = { ...w.invocation(150_000), onProgress: check };
    for (const step of ['createSecret', 'setSecret'] as const) await runRotationStep(step, 't1', settings, short);
    await expect(runRotationStep('testSecret', 't1', settings, short)).rejects.toBeInstanceOf(RotationStoppedError);
    check();
    const next = { ...w.invocation(600_000), onProgress: check };
    for (const step of ROTATION_STEPS) await runRotationStep(step, 't1', settings, next);
    w.senders[0]!.finishDeploying();
    check();
    expect(clock.now().getTime() - Date.parse('2026-01-01T00:00:00Z')).toBe(300_000);
    expect(violations).toEqual([]);
  });
});
