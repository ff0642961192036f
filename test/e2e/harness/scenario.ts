/**
 * Runs one scenario under traffic: legitimate clients through the edges and forgers straight at the
 * gateway and the upstreams from before the first change until every retired value has been refused for a
 * while; then the result (counts, view ages, notes) is printed and recorded for the report.
 */
import { expect } from 'vitest';
import { byHop } from './load.ts';
import { sleep } from './periodic.ts';
import { recordScenario, type ScenarioResult } from './report.ts';
import type { CoverageOptions, SweepHop } from './sweep.ts';
import type { World } from './world.ts';

/** A client stream whose ticks were further apart than this stalled: its traffic bunched up, the scenario fails. */
export const MAX_TICK_GAP_MS = 2_000;

export interface ScenarioOptions {
  group: string;
  scenario: string;
  expectation?: ScenarioResult['expectation'];
  /** Traffic before the first change (default 300 ms). */
  warmupMs?: number;
  /** Forged retired values are presented at least this long after they became due (default 600 ms). */
  retiredProbeMs?: number;
}

export interface ScenarioContext {
  world: World;
  note(text: string): void;
}

export async function runScenario(world: World, options: ScenarioOptions, body: (ctx: ScenarioContext) => Promise<void>): Promise<ScenarioResult> {
  const notes: string[] = [];
  const started = Date.now();
  const clients = world.clientStream();
  const forged = world.forgedStream();
  world.sweeper.start(clients, forged);
  let failure: unknown;
  try {
    await sleep(options.warmupMs ?? 300);
    await body({ world, note: (text) => notes.push(text) });
    const lastDue = Math.max(0, ...world.retired.map((r) => r.refusedFrom));
    const probeUntil = lastDue + (options.retiredProbeMs ?? 600);
    if (lastDue > 0 && probeUntil > Date.now()) await sleep(Math.min(probeUntil - Date.now(), 10_000));
  } catch (error) {
    failure = error;
  }
  await world.sweeper.stop();
  const c = await clients.stop();
  const f = await forged.stop();
  const ages = world.gateway.maxAges();
  const result: ScenarioResult = {
    group: options.group,
    scenario: options.scenario,
    expectation: options.expectation ?? 'zero-rejections',
    sent: c.sent,
    accepted: c.accepted,
    rejected: c.rejected,
    rejectedByHop: byHop(c.rejectedBy),
    rejectedBy: c.rejectedBy,
    skipped: c.skipped + f.skipped,
    forgedSent: f.sent,
    forgedAccepted: f.accepted,
    forgedByLabel: forged.byLabel,
    durationMs: Date.now() - started,
    capped: c.capped || f.capped,
    viewAges: { ...ages, edgePollGapMs: world.fleet.maxPollGapMs },
    notes,
    coverage: world.sweeper.coverageLines(),
    maxTickGapMs: Math.max(c.maxTickGapMs, f.maxTickGapMs),
  };
  const violations = modelViolations(world, result);
  if (violations.length) notes.push(`the world's timing slipped (${violations.join('; ')})`);
  console.log(`[e2e] ${options.scenario}: client latency max ${c.maxLatencyMs} ms, in flight max ${c.maxInFlight}, tick gap max ${c.maxTickGapMs} ms; forged latency max ${f.maxLatencyMs} ms${c.rejected ? `; rejected by ${JSON.stringify(c.rejectedBy)}` : ''}`);
  console.log(`[e2e] ${options.scenario} coverage:\n  ${result.coverage!.join('\n  ')}`);
  recordScenario(result);
  if (failure) throw failure;
  return result;
}

/**
 * The product's promise: no legitimate request refused, no forged one let in. When a node of the world served
 * a view older than the delay the product was configured with (moto_server stalled on a busy machine), a
 * refusal may be the harness's fault: the failure message says so.
 */
export function expectNoRejections(world: World, result: ScenarioResult, coverage: CoverageOptions = {}): void {
  const violations = modelViolations(world, result);
  expect(result.rejectedBy, 'legitimate requests rejected, by hop and reason').toEqual({});
  expect(result.forgedAccepted, 'forged requests accepted').toBe(0);
  expect(result.capped, 'a traffic stream hit its hard cap before the scenario ended').toBe(false);
  expect(result.sent).toBeGreaterThan(0);
  expect(result.skipped, 'requests not sent because too many were in flight').toBe(0);
  expectCoverage(world, result, coverage);
  // A node that served a view older than the product was told about makes the run prove nothing.
  expect(violations, "views older than configured (the world could not keep its own timing)").toEqual([]);
}

/**
 * The scenario covered its windows (sweep.ts): every overlap phase swept on every node with every value, every
 * retired value probed on every validator node (for each hop that retired one), and no stalled client stream.
 */
export function expectCoverage(world: World, result: ScenarioResult, coverage: CoverageOptions = {}): void {
  const retiredHops = [...new Set(world.retired.map((r) => r.hop))] as SweepHop[];
  world.sweeper.expectCovered({ ...coverage, expectOverlap: retiredHops, expectRetired: retiredHops });
  expect(result.maxTickGapMs ?? 0, `a client stream stalled (tick gap over ${MAX_TICK_GAP_MS} ms): traffic bunched up`).toBeLessThanOrEqual(MAX_TICK_GAP_MS);
}

/** Where the world's nodes served views older than the delays the product was told about. */
export function modelViolations(world: World, result: ScenarioResult): string[] {
  const t = world.timing;
  const limits = [
    ['WAF', result.viewAges.wafMs, t.wafPropagationSeconds * 1000],
    ['Kong route', result.viewAges.kongRouteMs, t.kongPropagationSeconds * 1000],
    ['vault', result.viewAges.vaultMs, (t.vaultTtlSeconds + t.vaultRotationCheckSeconds) * 1000],
  ] as const;
  return limits.filter(([, age, limit]) => age > limit).map(([what, age, limit]) => `${what} view ${age} ms old, configured ${limit} ms`);
}
