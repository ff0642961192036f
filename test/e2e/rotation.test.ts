/**
 * Issue 7, rotations under traffic: normal rotation of both hops, two back to back, CloudFront slow to
 * deploy, edges switching late, and an emergency rotation. Each scenario has its own world (seeded account,
 * fake Kong, edges, gateway, upstreams) and runs concurrently with the others.
 */
import { describe, expect, it } from 'vitest';
import { rotateInProcess } from '../../lambdas/core/rotation.ts';
import { sleep } from './harness/periodic.ts';
import { expectFinalState, retireNow, rotateAndRetire, rotateWhenAllowed } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, fp, UPSTREAM, type Hop } from './harness/world.ts';

const GROUP = 'rotation';
const withWorld = scenarioSuite(6);

describe.concurrent('rotations under traffic', () => {
  it('normal rotation of both hops: no legitimate request refused, retired values refused', async () => {
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'normal rotation of both hops' }, async ({ note }) => {
        const [cdn, upstream] = await Promise.all([rotateAndRetire(world, CDN), rotateAndRetire(world, UPSTREAM)]);
        expect(fp(cdn.after)).not.toBe(fp(cdn.before));
        expect(fp(upstream.after)).not.toBe(fp(upstream.before));
        const deploy = world.fleet.history.at(-1)!;
        note(`edges all switched ${Math.round(deploy.allSwitchedAt - deploy.seenAt)} ms after the change was seen`);
      });
      expectNoRejections(world, result);
      expect(result.forgedByLabel['gateway/retired-value']?.sent ?? 0).toBeGreaterThan(0);
      expect(result.forgedByLabel['upstream/retired-value']?.sent ?? 0).toBeGreaterThan(0);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('callers caching the secret themselves: retire waits the overlap window, their old value accepted until they reload', async () => {
    await withWorld({ cachedCallers: { cacheSeconds: 3, overlapSeconds: 4 } }, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'callers caching the secret (cache 3 s, overlap 4 s)' }, async ({ note }) => {
        const started = Date.now();
        const { before } = await rotateAndRetire(world, CDN);
        const caller = world.callers[0];
        expect(fp(caller.value), 'the caller reloaded before retire').not.toBe(fp(before));
        note(`retired ${Date.now() - started} ms after rotate started; the caller switched ${Math.round(caller.changedAt - started)} ms after`);
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('two rotations back to back: the second one retires the first overlap itself, once senders propagated', async () => {
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'two rotations back to back' }, async ({ note }) => {
        const back = async (hop: Hop) => {
          const v0 = (await world.value(hop))!;
          await rotateInProcess(world.secrets[hop], world.deps(hop));
          // The operator runs rotate again at once: refused while the first overlap cannot be retired yet.
          const { refusals } = await rotateWhenAllowed(world, hop);
          world.markRetired(hop, v0);
          const v2Before = (await world.value(hop, 'AWSPREVIOUS'))!;
          await retireNow(world, hop, v2Before);
          note(`${hop}: second rotate refused ${refusals}× until the first overlap could be retired`);
        };
        await Promise.all([back(CDN), back(UPSTREAM)]);
      });
      expectNoRejections(world, result);
      expect(world.fleet.history.length).toBe(2);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('CloudFront slow to deploy: InProgress long after the edges switched, retire waits for Deployed', async () => {
    await withWorld({ minDeployMs: 3_000 }, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'CloudFront slow to deploy (InProgress ≥ 3 s)' }, async ({ note }) => {
        const started = Date.now();
        await rotateAndRetire(world, CDN);
        const deploy = world.fleet.history.at(-1)!;
        note(`retired ${Date.now() - started} ms after rotate started; edges had switched ${Math.round(deploy.allSwitchedAt - deploy.seenAt)} ms after the change`);
        expect(Date.now()).toBeGreaterThanOrEqual(deploy.seenAt + 3_000);
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('edges switching late: the last edge switches up to 3 s after the change, the old value stays accepted until then', async () => {
    await withWorld({ edges: 6, edgeSwitchDelay: { minMs: 1_500, maxMs: 3_000 } }, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'edges switching late (1.5-3 s)' }, async ({ note }) => {
        const { before } = await rotateAndRetire(world, CDN);
        const deploy = world.fleet.history.at(-1)!;
        const retiredAt = Date.now();
        note(`last edge switched ${Math.round(deploy.allSwitchedAt - deploy.seenAt)} ms after the change; retire ${Math.round(retiredAt - deploy.allSwitchedAt)} ms after that`);
        expect(retiredAt).toBeGreaterThanOrEqual(deploy.allSwitchedAt);
        expect(fp(before)).not.toBe(fp(await world.value(CDN)));
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('emergency rotation: the leaked value is accepted until the senders propagated, and refused soon after', async () => {
    await withWorld({}, async (world) => {
      const leaked = { [CDN]: (await world.value(CDN))!, [UPSTREAM]: (await world.value(UPSTREAM))! };
      // Probes with the leaked values, straight at the gateway and an upstream, every 25 ms (bounded).
      const probes: Record<Hop, Array<{ at: number; accepted: boolean }>> = { [CDN]: [], [UPSTREAM]: [] };
      let probing = true;
      const probe = async (hop: Hop) => {
        const url = hop === CDN ? `${world.gateway.url}/api/leak` : `${world.upstreams[0].url}/api/leak`;
        for (let i = 0; probing && i < 2_000; i++) {
          const res = await fetch(url, { headers: { [world.secrets[hop].headerName]: leaked[hop] } });
          await res.arrayBuffer();
          probes[hop].push({ at: Date.now(), accepted: res.ok });
          await sleep(25);
        }
      };
      const probing$ = Promise.all([probe(CDN), probe(UPSTREAM)]);
      const propagatedAt: Partial<Record<Hop, number>> = {};
      const result = await runScenario(world, { group: GROUP, scenario: 'emergency rotation of both hops' }, async ({ note }) => {
        const emergency = async (hop: Hop) => {
          const deps = world.deps(hop);
          const rotated = await rotateInProcess(world.secrets[hop], deps, { emergency: true, propagationTimeoutMs: 20_000 });
          expect(rotated.retire).toMatchObject({ status: 'retired' });
          // When the senders really had propagated: the last edge's switch, or the last Kong node's vault switch.
          const current = (await world.value(hop))!;
          const vaults = world.gateway.kongNodes.map((n) => n.vault);
          expect(hop === CDN || vaults.every((v) => v.value === current), 'every vault sends the new value at retire').toBe(true);
          propagatedAt[hop] = hop === CDN ? world.fleet.history.at(-1)!.allSwitchedAt : Math.max(...vaults.map((v) => v.changedAt));
          world.markRetired(hop, leaked[hop]);
        };
        await Promise.all([emergency(CDN), emergency(UPSTREAM)]);
        // Let the probes see the validators narrow everywhere.
        await sleep(Math.max(world.validatorPropagationMs(CDN), world.validatorPropagationMs(UPSTREAM)) + 500);
        probing = false;
        await probing$;
        for (const hop of [CDN, UPSTREAM] as const) {
          const lastAccepted = probes[hop].filter((p) => p.accepted).at(-1)!.at;
          const firstRefused = probes[hop].find((p) => !p.accepted)?.at;
          note(
            `${hop}: leaked value refused ${firstRefused ? Math.round(firstRefused - propagatedAt[hop]!) : 'never'} ms after the senders propagated ` +
              `(last accepted at +${Math.round(lastAccepted - propagatedAt[hop]!)} ms; the product polls every 5 s in an emergency rotation)`,
          );
        }
      });
      probing = false;
      await probing$;
      expectNoRejections(world, result);
      for (const hop of [CDN, UPSTREAM] as const) {
        const firstRefused = probes[hop].find((p) => !p.accepted)?.at;
        expect(firstRefused, `${hop}: the leaked value was refused at last`).toBeDefined();
        // No earlier: never refused before every sender sent the new value.
        expect(firstRefused!, `${hop}: leaked value refused before the senders propagated`).toBeGreaterThanOrEqual(propagatedAt[hop]!);
        // As soon as: the product polls every 5 s in an emergency rotation, then validators take their propagation.
        expect(firstRefused! - propagatedAt[hop]!).toBeLessThanOrEqual(5_000 + world.validatorPropagationMs(hop) + 1_000);
        // And it stays refused.
        expect(probes[hop].filter((p) => p.at > firstRefused! + world.validatorPropagationMs(hop) + 300 && p.accepted)).toEqual([]);
      }
      await expectFinalState(world);
    });
  }, TIMEOUT);
});
