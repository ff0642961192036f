/**
 * Issue 7, a crash between any two steps: the process dies right after each write a rotation makes (and
 * before the first), from createSecret to retire, without rollback; then Secrets Manager retries the same
 * step with the same token in a fresh process, and the rotation goes on to the end. Traffic flows all the
 * time; nothing legitimate may be refused, nothing forged let in, and every rotation must end clean.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ROTATION_STEPS, runRotationStep, waitAndRetire, type RotationStep } from '../../lambdas/core/rotation.ts';
import { crashAfterWrites } from './harness/faults.ts';
import { retireNow, expectFinalState, RETIRE_POLL_MS, RETIRE_TIMEOUT_MS } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, UPSTREAM, type Hop, type World } from './harness/world.ts';

const GROUP = 'crash';
const withWorld = scenarioSuite(3);
/** More than any rotation's writes: the loop ends at the first crash point a whole rotation never reaches. */
const MAX_CRASH_POINTS = 20;

interface CrashOutcome {
  writes: number;
  died: boolean;
  /** Where the process died: a step, or `retire`. */
  diedIn?: RotationStep | 'retire';
  lastWrite?: string;
}

/** One rotation whose process dies after `writes` writes, then the retry of the same step with the same token. */
async function rotateWithCrash(world: World, hop: Hop, writes: number): Promise<CrashOutcome> {
  const settings = world.secrets[hop];
  const before = (await world.value(hop))!;
  const token = randomUUID();
  const noOps = hop === UPSTREAM ? ['secretsmanager-readers', 'kong-vault:secretsmanager'] : [];
  const crash = crashAfterWrites(world.deps(hop), writes, noOps);

  let diedIn: CrashOutcome['diedIn'];
  for (const step of ROTATION_STEPS) {
    try {
      await runRotationStep(step, token, settings, crash.deps);
    } catch (error) {
      if (!crash.died) throw error;
      diedIn = step;
      break;
    }
  }
  if (!diedIn) {
    try {
      const result = await waitAndRetire(settings, crash.deps, { timeoutMs: RETIRE_TIMEOUT_MS, pollMs: RETIRE_POLL_MS });
      expect(result.status).toBe('retired');
    } catch (error) {
      if (!crash.died) throw error;
      diedIn = 'retire';
    }
  }
  if (!diedIn) {
    world.markRetired(hop, before);
    return { writes, died: false };
  }

  // A fresh process: Secrets Manager invokes the same step with the same token, then the next ones.
  const fresh = world.deps(hop);
  if (diedIn !== 'retire') {
    for (const step of ROTATION_STEPS.slice(ROTATION_STEPS.indexOf(diedIn))) await runRotationStep(step, token, settings, fresh);
  }
  await retireNow(world, hop, before, fresh);
  const facts = await world.rotationFacts(hop);
  expect(facts.current, `after a crash at write #${writes} (${crash.lastWrite ?? 'none'}) and the retry, the token is current`).toEqual([token]);
  expect(facts).toMatchObject({ pendingElsewhere: [], overlapOpen: false, validatorsSetTag: false });
  return { writes, died: true, diedIn, lastWrite: crash.lastWrite };
}

/**
 * Crash points `from` up to `to` (exclusive) in one world, or until a run reaches the end without crashing.
 * The points of one rotation are independent (each starts from a finished rotation), so two worlds can share them.
 */
async function crashPoints(hop: Hop, options: Parameters<typeof withWorld>[0], from: number, to: number): Promise<CrashOutcome[]> {
  return withWorld(options, async (world) => {
    const outcomes: CrashOutcome[] = [];
    const label = to >= MAX_CRASH_POINTS ? `from write #${from}` : `writes #${from}-#${to - 1}`;
    const result = await runScenario(world, { group: GROUP, scenario: `crash after every write of a ${hop} rotation (${label}), then retry` }, async ({ note }) => {
      for (let writes = from; writes < to; writes++) {
        const outcome = await rotateWithCrash(world, hop, writes);
        outcomes.push(outcome);
        if (!outcome.died) break;
      }
      const crashes = outcomes.filter((o) => o.died);
      note(`${crashes.length} crash points: ${crashes.map((o) => `#${o.writes} ${o.lastWrite ?? '(before any write)'} → died in ${o.diedIn}`).join(', ')}`);
    });
    expectNoRejections(world, result);
    await expectFinalState(world);
    return outcomes;
  });
}

/** Every crash point of a `hop` rotation, split over `worlds` worlds that run at the same time. */
function crashScenario(hop: Hop, options: Parameters<typeof withWorld>[0], split: number[] = []) {
  return async () => {
    const bounds = [0, ...split, MAX_CRASH_POINTS];
    const parts = await Promise.all(bounds.slice(0, -1).map((from, i) => crashPoints(hop, options, from, bounds[i + 1])));
    const outcomes = parts.flat();
    const crashes = outcomes.filter((o) => o.died);
    // The parts before the last crashed at every point they tried; the last one ran to the end.
    for (const part of parts.slice(0, -1)) expect(part.every((o) => o.died), 'a rotation ended before the split point: move the split').toBe(true);
    expect(outcomes.at(-1)!.died, 'the last run reached the end without reaching its crash point').toBe(false);
    // Every step and retire had a crash inside it.
    expect(new Set(crashes.map((o) => o.diedIn))).toEqual(new Set([...ROTATION_STEPS, 'retire']));
  };
}

describe.concurrent('a crash at every point of a rotation, then the retry of the same step with the same token', () => {
  // Its 15 crash points take about 3 s each (the 2 s validator wait, CloudFront's deploy): split over two worlds.
  it('cdn-to-gateway: CloudFront, WAF and Kong', crashScenario(CDN, { edgeSwitchDelay: { minMs: 0, maxMs: 500 } }, [8]), TIMEOUT);
  // Kong's vault with ttl 0 re-resolves on every rotation check (1 s), which keeps this hop's waits short.
  it('gateway-to-upstream: Kong vault and the upstream verifiers', crashScenario(UPSTREAM, { timing: { vaultTtlSeconds: 0 } }), TIMEOUT);
});
