/**
 * Two writers of one secret's targets at once, for every pair among {rotation Lambda steps, retire, `rotate
 * --local`, adopt, emergency rotation}: the second writer starts after each single port call of the first, so
 * every interleaving point is tried. At every instant every value a sender may send must be accepted by every
 * validator; a writer that does not proceed refuses clearly (LeaseHeldError naming the holder, or a state
 * refusal) and never rolls back what the other did.
 */
import { describe, expect, it } from 'vitest';
import { LeaseHeldError, RotationFailedError, RotationStateError } from '../../lambdas/core/errors.ts';
import { STAGE, TAG, type ProbePort } from '../../lambdas/core/ports.ts';
import { rotationView } from '../../lambdas/core/rotation-state.ts';
import { adopt, retire, rotateInProcess, runRotationStep, ROTATION_STEPS, type RotationDeps, type RotationSettings } from '../../lambdas/core/rotation.ts';
import { MemoryLeases, MemoryLeaseTable } from '../support/memory-lease.ts';
import { FakeClock, MemoryAlerts, MemorySecretStore, MemorySender, MemoryValidator, unsafePairs } from '../support/memory-targets.ts';

const OLD = 'old-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const PREV = 'prev-value-PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP';
const settings: RotationSettings = {
  name: 'cdn-to-gateway',
  headerName: 'X-Origin-Verify',
  overlapMinutes: 30,
  probeUrl: 'https://origin.example.com/health',
  probeRefusedStatus: 404,
};

type Start = 'settled' | 'overlap-due';

/** One secret, two senders, two validators; every port call is followed by the traffic check and a hook. */
function world(start: Start) {
  const clock = new FakeClock();
  const store = new MemorySecretStore('origin-guard/cdn-to-gateway', clock, OLD);
  const senders = [new MemorySender('cloudfront:E1', OLD), new MemorySender('cloudfront:E2', OLD)];
  const validators = [new MemoryValidator('wafv2:REGIONAL/acl/origin-verify', 60, clock, [OLD]), new MemoryValidator('kong-route:api', 5, clock, [OLD])];
  if (start === 'overlap-due') {
    // A finished rotation whose overlap window has passed: validators accept {PREV, OLD}, senders send OLD.
    store.versions.set('v-prev', { id: 'v-prev', value: PREV, stages: new Set([STAGE.PREVIOUS]), createdAt: clock.now() });
    store.tags[TAG.OVERLAP_VERSION] = 'v-prev';
    store.tags[TAG.OVERLAP_OPENED_AT] = clock.now().toISOString();
    for (const v of validators) void v.accept([OLD, PREV]);
    clock.advance(31 * 60_000);
  }
  const table = new MemoryLeaseTable(() => clock.now());
  const violations: string[] = [];
  let calls = 0;
  let hook: ((calls: number) => void) | undefined;
  const watched = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, key, receiver) {
        const member = Reflect.get(obj, key, receiver);
        if (typeof member !== 'function') return member;
        return async (...args: unknown[]) => {
          try {
            return await member.apply(obj, args);
          } finally {
            violations.push(...unsafePairs(senders, validators));
            hook?.(++calls);
          }
        };
      },
    });
  let n = 0;
  const deps = (owner: string, probe?: ProbePort): RotationDeps => ({
    store: watched(store),
    senders: senders.map(watched),
    validators: validators.map(watched),
    clock,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    alerts: new MemoryAlerts(),
    probe: probe ?? okProbe(validators),
    leases: new MemoryLeases(table, owner),
    generateValue: () => `value-${owner.replace(/[^a-z]/g, '')}-${++n}-${'Z'.repeat(30)}`,
  });
  return {
    clock,
    store,
    senders,
    validators,
    table,
    violations,
    deps,
    onCall: (fn: (calls: number) => void) => {
      hook = fn;
    },
    /** Senders finish deploying (CloudFront Deployed), as they would while time passes. */
    deployAll: () => senders.forEach((s) => s.finishDeploying()),
  };
}

/** A probe from inside the VPC: answers by what every validator enforces now. */
function okProbe(validators: MemoryValidator[]): ProbePort {
  return { request: async (_url, headers) => ({ status: validators.every((v) => v.enforces(Object.values(headers)[0]!)) ? 200 : 404 }) };
}
/** A probe from a laptop outside the VPC: the origin is locked to CDN ranges, every request is refused. */
const laptopProbe: ProbePort = { request: async () => ({ status: 404 }) };

type World = ReturnType<typeof world>;
type Writer = { name: string; run: (w: World) => Promise<unknown> };

const WRITERS: Writer[] = [
  {
    name: 'rotation Lambda',
    // Secrets Manager labels an empty version AWSPENDING, then invokes the four steps one by one.
    run: async (w) => {
      const pending = rotationView(await w.store.describe()).pendingVersionId;
      const token = pending ?? 'lambda-token';
      if (!pending) w.store.labelEmptyPending(token);
      const deps = w.deps('lambda:rotation');
      for (const step of ROTATION_STEPS) {
        await runRotationStep(step, token, settings, deps);
        w.deployAll();
      }
    },
  },
  { name: 'retire', run: (w) => retire(settings, w.deps('lambda:retire')) },
  { name: 'rotate --local', run: (w) => rotateInProcess(settings, w.deps('cli:local', laptopProbe)) },
  { name: 'adopt', run: (w) => adopt(settings, w.deps('cli:adopt')) },
  {
    name: 'emergency',
    run: (w) => rotateInProcess(settings, { ...w.deps('cli:emergency'), onProgress: () => w.deployAll() }, { emergency: true, propagationTimeoutMs: 60_000, pollMs: 5_000 }),
  },
];

/** A refusal is clear: the lease holder named, or a state that does not allow the write, never a rollback. */
function expectClearRefusal(reason: unknown) {
  expect(reason instanceof LeaseHeldError || reason instanceof RotationStateError || reason instanceof RotationFailedError).toBe(true);
  if (reason instanceof LeaseHeldError) expect(reason.message).toMatch(/is being changed by .+ \(.+\) since \d{4}-/);
}

async function race(first: Writer, second: Writer, start: Start, after: number) {
  const w = world(start);
  let secondRun: Promise<unknown> | undefined;
  w.onCall((calls) => {
    if (calls === after && !secondRun) secondRun = second.run(w);
  });
  if (after === 0) secondRun = second.run(w);
  const firstResult = await Promise.allSettled([first.run(w)]);
  secondRun ??= second.run(w); // the first finished before that many calls: run the second after it
  const secondResult = await Promise.allSettled([secondRun]);
  w.onCall(() => {});
  return { w, results: [firstResult[0], secondResult[0]] as const };
}

describe('two writers of one secret at once', () => {
  for (const start of ['settled', 'overlap-due'] as const) {
    for (const first of WRITERS) {
      for (const second of WRITERS) {
        it(`${start}: ${first.name}, then ${second.name} starting at every point of it: traffic never refused, refusals clear`, async () => {
          let leaseRefusals = 0;
          // Bounded: a writer makes fewer than 80 port calls here.
          for (let after = 0; after < 80; after++) {
            const { w, results } = await race(first, second, start, after);
            expect(w.violations, `${first.name} / ${second.name} after ${after} calls`).toEqual([]);
            for (const r of results) {
              if (r.status === 'rejected') {
                expectClearRefusal(r.reason);
                if (r.reason instanceof LeaseHeldError) leaseRefusals++;
              }
            }
            // Nothing is left half-done: no lease, and what validators accept is what the stages allow.
            expect([...w.table.items.keys()]).toEqual([]);
          }
          // Started while the first held the secret, the second was turned away by the lease at least once.
          expect(leaseRefusals).toBeGreaterThan(0);
        });
      }
    }
  }
});

describe('the issue example: --local resumed from a laptop while the deployed rotation waits in testSecret', () => {
  it('the laptop run is refused by the lease while the Lambda waits, and the Lambda finishes; no request is refused', async () => {
    const w = world('settled');
    w.store.labelEmptyPending('lambda-token');
    const lambda = w.deps('lambda:origin-guard-rotation:req-1');
    await runRotationStep('createSecret', 'lambda-token', settings, lambda);
    await runRotationStep('setSecret', 'lambda-token', settings, lambda);
    let local: Promise<unknown> | undefined;
    // The operator runs `rotate --local` while testSecret waits out the WAF's propagation.
    w.onCall(() => {
      if (!local && w.store.tags[TAG.PROGRESS_WAITING_FOR]) local = rotateInProcess(settings, w.deps('cli:laptop', laptopProbe));
    });
    await runRotationStep('testSecret', 'lambda-token', settings, lambda);
    const refusal = await local!.then(
      () => undefined,
      (error) => error,
    );
    await runRotationStep('finishSecret', 'lambda-token', settings, lambda);

    expect(refusal).toBeInstanceOf(LeaseHeldError);
    expect(refusal.message).toMatch(/secret:cdn-to-gateway is being changed by rotation testSecret \(token lambda-token\) \(lambda:origin-guard-rotation:req-1\)/);
    expect(w.store.stageValue(STAGE.CURRENT)).not.toBe(OLD);
    expect(w.senders.map((s) => s.configured)).toEqual([w.store.stageValue(STAGE.CURRENT), w.store.stageValue(STAGE.CURRENT)]);
    expect(w.violations).toEqual([]);
  });

  it('when the laptop gets the lease between testSecret and finishSecret, its failed probe rolls back and the Lambda then switches nothing', async () => {
    const w = world('settled');
    w.store.labelEmptyPending('lambda-token');
    const lambda = w.deps('lambda:origin-guard-rotation:req-1');
    for (const step of ['createSecret', 'setSecret', 'testSecret'] as const) await runRotationStep(step, 'lambda-token', settings, lambda);

    const local = await rotateInProcess(settings, w.deps('cli:laptop', laptopProbe)).catch((error) => error);
    const finish = await runRotationStep('finishSecret', 'lambda-token', settings, lambda).catch((error) => error);

    expect(local).toBeInstanceOf(RotationFailedError);
    expect(local.message).toMatch(/probe:https:\/\/origin\.example\.com\/health.*refused \(404\)/);
    expect(finish).toBeInstanceOf(RotationStateError);
    expect(finish.message).toMatch(/not AWSPENDING/);
    expect(w.senders.map((s) => s.configured)).toEqual([OLD, OLD]);
    expect(w.store.stageValue(STAGE.CURRENT)).toBe(OLD);
    expect(w.violations).toEqual([]);
  });
});

describe('a lease lost during a step', () => {
  it('stops the holder before its next write, without a rollback that would fight the new holder', async () => {
    const w = world('settled');
    w.store.labelEmptyPending('lambda-token');
    const lambda = w.deps('lambda:paused');
    await runRotationStep('createSecret', 'lambda-token', settings, lambda);
    await runRotationStep('setSecret', 'lambda-token', settings, lambda);
    // A long pause: the lease lapses during testSecret's wait and another writer takes it over.
    w.onCall(() => {
      if (w.store.tags[TAG.PROGRESS_WAITING_FOR] && w.table.items.get('secret:cdn-to-gateway')?.owner === 'lambda:paused') {
        w.table.items.set('secret:cdn-to-gateway', { owner: 'cli:other', purpose: 'rotate --local', acquiredAt: w.clock.now(), expiresAt: new Date(w.clock.now().getTime() + 600_000) });
      }
    });
    const lost = await runRotationStep('testSecret', 'lambda-token', settings, lambda).catch((error) => error);

    expect(lost.name).toBe('LeaseLostError');
    expect(lost.message).toMatch(/secret:cdn-to-gateway: the lease held by lambda:paused was lost/);
    // Nothing rolled back: both values still accepted, AWSPENDING kept for whoever holds the secret now.
    expect(w.validators.map((v) => v.configured.length)).toEqual([2, 2]);
    expect(w.store.stageValue(STAGE.PENDING)).toBeDefined();
    expect(w.violations).toEqual([]);
  });
});
