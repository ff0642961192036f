/**
 * Issue 7, range changes under traffic (the reconcile core, lambdas/core/reconcile.ts, with the EC2 adapter):
 * the published CloudFront origin-facing versions replayed while clients come from allowed addresses, and a
 * rotation of both hops while that reconcile runs.
 */
import { describe, expect, it } from 'vitest';
import { prepareRangeReplay } from './harness/ranges.ts';
import { expectFinalState, rotateAndRetire } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, UPSTREAM } from './harness/world.ts';

const GROUP = 'ranges';
const withWorld = scenarioSuite(2);

describe.concurrent('security groups follow the published ranges under traffic', () => {
  it('range changes replayed from cloudfront-history.jsonl: no allowed client is refused during a change', async () => {
    await withWorld({}, async (world) => {
      // Without the removal guard, the 2021 change that merged /24s into a /21 and a /20 is applied in one run.
      const ranges = await prepareRangeReplay(world, { maxRemovalFraction: 1 });
      try {
        const result = await runScenario(world, { group: GROUP, scenario: 'range changes replayed (CLOUDFRONT_ORIGIN_FACING history, no removal guard)' }, async ({ note }) => {
          const outcomes = await ranges.replay();
          const adds = outcomes.reduce((n, o) => n + o.groups.reduce((m, g) => m + g.add.length, 0), 0);
          const removes = outcomes.reduce((n, o) => n + o.groups.reduce((m, g) => m + g.remove.length, 0), 0);
          note(
            `${ranges.versions.length} versions (${ranges.versions[0].syncToken} → ${ranges.versions.at(-1)!.syncToken}), ${adds} rules added, ${removes} removed, ` +
              `statuses: ${outcomes.map((o) => o.status).join(', ')}; security groups re-read ${ranges.view.refreshes}×`,
          );
        });
        expectNoRejections(world, result);
        await ranges.expectFinalRules();
      } finally {
        ranges.close();
      }
    });
  }, TIMEOUT);

  it('rotation of both hops while a reconcile runs', async () => {
    await withWorld({}, async (world) => {
      const ranges = await prepareRangeReplay(world);
      try {
        const result = await runScenario(world, { group: GROUP, scenario: 'rotation of both hops while a reconcile runs (removal guard 0.3)' }, async ({ note }) => {
          const [outcomes] = await Promise.all([ranges.replay(), rotateAndRetire(world, CDN), rotateAndRetire(world, UPSTREAM)]);
          note(`reconciled ${outcomes.length} versions (${outcomes.map((o) => o.status).join(', ')}) while both secrets rotated`);
        });
        expectNoRejections(world, result);
        expect(result.forgedByLabel['gateway/retired-value']?.sent ?? 0).toBeGreaterThan(0);
        await ranges.expectFinalRules();
        await expectFinalState(world);
      } finally {
        ranges.close();
      }
    });
  }, TIMEOUT);
});
