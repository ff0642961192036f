/**
 * The harness must be able to fail. Each test drives the real adapters in a deliberately wrong order and
 * asserts that the traffic shows it: legitimate requests refused at the hop whose order was broken. If one of
 * these passes with zero rejections, the harness has gone blind and the other scenarios prove nothing.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TAG, type SenderPort, type ValidatorPort } from '../../lambdas/core/ports.ts';
import { rotateInProcess, runRotationStep, waitAndRetire } from '../../lambdas/core/rotation.ts';
import { sleep } from './harness/periodic.ts';
import { expectFinalState, RETIRE_POLL_MS, RETIRE_TIMEOUT_MS, retireNow, rotateAndRetire } from './harness/rotations.ts';
import { runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, UPSTREAM } from './harness/world.ts';
import type { ScenarioResult } from './harness/report.ts';
import { prepareRangeReplay } from './harness/ranges.ts';
import type { SecurityGroupStorePort } from '../../lambdas/core/reconcile.ts';
import type { RulePlan } from '../../lambdas/core/range-planner.ts';

const GROUP = 'broken ordering (must fail)';
const withWorld = scenarioSuite(7);

/** A sender that says it has propagated as soon as it is asked (retire ignores CloudFront's `Deployed`). */
function alwaysPropagated(sender: SenderPort): SenderPort {
  return {
    id: sender.id,
    send: (value) => sender.send(value),
    sending: () => sender.sending(),
    propagated: async () => ({ done: true }) as Awaited<ReturnType<SenderPort['propagated']>>,
  };
}

/** A validator that claims to be in force everywhere at once: testSecret's wait for propagation becomes 0. */
function noPropagationWait(validator: ValidatorPort): ValidatorPort {
  return {
    id: validator.id,
    propagationSeconds: 0,
    followsSecret: validator.followsSecret,
    accept: (values) => validator.accept(values),
    accepted: () => validator.accepted(),
    ...(validator.preflight ? { preflight: () => validator.preflight!() } : {}),
  };
}

function expectRejectedAt(result: ScenarioResult, hops: string[], options: { everyHop?: boolean } = {}): void {
  expect(result.rejected, 'the broken ordering went unnoticed: no legitimate request was refused').toBeGreaterThan(0);
  if (options.everyHop) for (const hop of hops) expect(result.rejectedByHop[hop] ?? 0, `refusals at ${hop}: ${JSON.stringify(result.rejectedBy)}`).toBeGreaterThan(0);
  expect(Object.keys(result.rejectedByHop).every((hop) => hops.includes(hop)), `rejections only at ${hops.join(', ')}: ${JSON.stringify(result.rejectedBy)}`).toBe(true);
  expect(result.forgedAccepted).toBe(0);
}

/** The product's security-group store, but every removal goes out before any addition. */
function removalsFirst(store: SecurityGroupStorePort): SecurityGroupStorePort {
  return {
    read: (target) => store.read(target),
    writeState: (target, next, previous) => store.writeState(target, next, previous),
    async apply(target, plan: RulePlan) {
      const removals = await store.apply(target, { ...plan, groups: plan.groups.map((g) => ({ ...g, add: [], removeFirst: false })) });
      const additions = await store.apply(target, { ...plan, groups: plan.groups.map((g) => ({ ...g, remove: [], removeFirst: false })) });
      return { authorizeCalls: removals.authorizeCalls + additions.authorizeCalls, revokeCalls: removals.revokeCalls + additions.revokeCalls };
    },
  };
}

describe.concurrent('the harness catches a broken ordering', () => {
  it('testSecret does not wait for validator propagation: the slowest WAF and Kong nodes refuse the new value', async () => {
    // The default world of "normal rotation of both hops"; the product's own rotation and retire, with the one
    // wait removed (as `slowest = 0` in testSecret would): its validators say they propagate at once.
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'testSecret does not wait for propagation', expectation: 'broken-variant' }, async ({ note }) => {
        const deps = world.deps(CDN);
        await rotateAndRetire(world, CDN, {}, { ...deps, validators: deps.validators.map(noPropagationWait) });
        note('validators reported 0 s propagation, so finishSecret switched CloudFront right after setSecret');
      });
      expectRejectedAt(result, ['waf', 'kong'], { everyHop: true });
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('senders switched before validators accept the new value: edges are refused by WAF and Kong', async () => {
    await withWorld({}, async (world) => {
      const settings = world.secrets[CDN];
      const result = await runScenario(world, { group: GROUP, scenario: 'senders switched before validators accept', expectation: 'broken-variant' }, async ({ note }) => {
        const before = (await world.value(CDN))!;
        const deps = world.deps(CDN);
        const token = randomUUID();
        await runRotationStep('createSecret', token, settings, deps);
        const pending = (await world.value(CDN, 'AWSPENDING'))!;
        // BROKEN, as naive rotations do it: CloudFront sends the pending value and deploys, then WAF and Kong follow.
        for (const sender of deps.senders) await sender.send(pending);
        const deployed = await world.until(async () => (await Promise.all(deps.senders.map((s) => s.propagated(pending, undefined, new Date())))).every((p) => p.done), 10_000, 100);
        expect(deployed).toBe(true);
        for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) await runRotationStep(step, token, settings, deps);
        await retireNow(world, CDN, before, deps);
        note('CloudFront switched and deployed right after createSecret; setSecret came after');
      });
      expectRejectedAt(result, ['waf', 'kong']);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('retire before overlapMinutes: callers still on their cached old value are refused by WAF and Kong', async () => {
    // The world of "callers caching the secret themselves"; the product's retire, told the overlap is 0.
    await withWorld({ cachedCallers: { cacheSeconds: 3, overlapSeconds: 4 } }, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'retire before overlapMinutes', expectation: 'broken-variant' }, async ({ note }) => {
        const before = (await world.value(CDN))!;
        const deps = world.deps(CDN);
        await rotateInProcess(world.secrets[CDN], deps);
        // BROKEN: the overlap window is ignored; retire waits only for CloudFront's Deployed.
        const retired = await waitAndRetire({ ...world.secrets[CDN], overlapMinutes: 0 }, deps, { timeoutMs: RETIRE_TIMEOUT_MS, pollMs: RETIRE_POLL_MS });
        expect(retired).toMatchObject({ status: 'retired' });
        world.markRetired(CDN, before);
        const stale = world.callers.filter((c) => c.value === before).length;
        await world.until(() => world.callers.every((c) => c.value !== before), 10_000);
        note(`retired as soon as CloudFront was Deployed; ${stale} of ${world.callers.length} callers still sent the old value then`);
      });
      expectRejectedAt(result, ['waf', 'kong'], { everyHop: true });
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('validators narrowed before the edges propagated: edges still sending the old value are refused', async () => {
    // The default world of "normal rotation of both hops": only the wait for Deployed is removed.
    await withWorld({}, async (world) => {
      const settings = world.secrets[CDN];
      const result = await runScenario(world, { group: GROUP, scenario: 'retire before CloudFront propagated', expectation: 'broken-variant' }, async ({ note }) => {
        const before = (await world.value(CDN))!;
        const deps = world.deps(CDN);
        await rotateInProcess(settings, deps);
        const current = (await world.value(CDN))!;
        // BROKEN: validators accept only the new value without waiting for CloudFront to be Deployed.
        for (const validator of deps.validators) await validator.accept([current]);
        await deps.store.removeTags([TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION]);
        world.markRetired(CDN, before);
        await world.until(() => world.fleet.statusFor(current) === 'Deployed', 5_000);
        note('validators narrowed right after finishSecret');
      });
      expectRejectedAt(result, ['waf', 'kong']);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('security-group removals before additions: clients in a range that was merged into a larger one are refused', async () => {
    await withWorld({}, async (world) => {
      const ranges = await prepareRangeReplay(world, { versions: 2, maxRemovalFraction: 1, wrapGroups: removalsFirst });
      try {
        const result = await runScenario(world, { group: GROUP, scenario: 'security-group removals before additions', expectation: 'broken-variant' }, async ({ note }) => {
          await ranges.replay();
          note('2021 change: 13 /24s merged into larger ranges, revoked before the larger ranges were authorized');
        });
        expectRejectedAt(result, ['alb-sg']);
      } finally {
        ranges.close();
      }
    });
  }, TIMEOUT);

  it('Kong narrowed before the vault TTL: upstreams refuse Kong nodes still sending the old value', async () => {
    // The default world of "normal rotation of both hops" (vault TTL 1 s + check 1 s): only retire's wait for
    // the vault is removed. The sweeps after each upstream's refresh see the Kong nodes still on the old value.
    await withWorld({}, async (world) => {
      const settings = world.secrets[UPSTREAM];
      const result = await runScenario(world, { group: GROUP, scenario: 'Kong narrowed before the vault TTL', expectation: 'broken-variant' }, async ({ note }) => {
        const before = (await world.value(UPSTREAM))!;
        const deps = world.deps(UPSTREAM);
        await rotateInProcess(settings, deps);
        // BROKEN: retire's work done at once, ignoring the vault's TTL + rotation check.
        await deps.store.removeTags([TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION]);
        world.markRetired(UPSTREAM, before);
        const stale = world.gateway.kongNodes.filter((n) => n.vault.value === before).length;
        await sleep(world.vaultPropagationMs() + 200);
        note(`overlap tags removed right after finishSecret; ${stale} of ${world.gateway.kongNodes.length} Kong nodes still sent the old value then`);
      });
      expectRejectedAt(result, ['upstream']);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('retire ignores CloudFront Deployed: validators narrow while edges still send the old value', async () => {
    // The default world of "normal rotation of both hops"; retire is the product's, but the CloudFront sender
    // says it has propagated as soon as it is asked.
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'retire ignores CloudFront Deployed', expectation: 'broken-variant' }, async ({ note }) => {
        const before = (await world.value(CDN))!;
        const deps = world.deps(CDN);
        await rotateInProcess(world.secrets[CDN], deps);
        await retireNow(world, CDN, before, { ...deps, senders: deps.senders.map(alwaysPropagated) });
        await world.until(() => world.fleet.statusFor(world.fleet.sendingNow().at(-1)) === 'Deployed', 5_000);
        note('retire ran right after finishSecret');
      });
      expectRejectedAt(result, ['waf', 'kong']);
      await expectFinalState(world);
    });
  }, TIMEOUT);
});
