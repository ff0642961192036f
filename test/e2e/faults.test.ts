/**
 * Issue 7, rotations under traffic while things go wrong: throttling and 5xx from each AWS API (SDK
 * middleware on the product's real clients, inside the SDK's retry loop), an outage that outlasts the
 * SDK's retries, a concurrent editor of the same distribution and web ACL, and a validator that cannot be
 * updated (Kong admin down).
 */
import { GetDistributionConfigCommand } from '@aws-sdk/client-cloudfront';
import { describe, expect, it } from 'vitest';
import { RotationFailedError } from '../../lambdas/core/errors.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { rotateInProcess } from '../../lambdas/core/rotation.ts';
import { recordCalls, serviceError } from '../support/faults.ts';
import { apiFaults, concurrentDistributionEditor, concurrentWebAclEditor, throttleThen5xx } from './harness/faults.ts';
import { expectFinalState, retireNow, rotateAndRetire, rotateWhenAllowed } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, fp, UPSTREAM, type World } from './harness/world.ts';

const GROUP = 'faults';
const withWorld = scenarioSuite(6);

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const describeCounts = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([command, n]) => `${command.replace(/Command$/, '')} ×${n}`)
    .join(', ');

async function rotateBothHops(world: World): Promise<void> {
  await Promise.all([rotateAndRetire(world, CDN), rotateAndRetire(world, UPSTREAM)]);
}

describe.concurrent('rotations under traffic while AWS, a concurrent editor or Kong misbehave', () => {
  it('throttling and 5xx from CloudFront, and an UpdateDistribution outage longer than the SDK retries', async () => {
    await withWorld({}, async (world) => {
      const faults = apiFaults(world.rotationClients.cloudFront(), {
        fail: (call, attempt, command) => {
          // Every attempt of the first UpdateDistribution fails: the SDK gives up, the adapter retries.
          if (command === 'UpdateDistributionCommand' && call === 1) return serviceError('ServiceUnavailable', 'CloudFront is unavailable', 503);
          return throttleThen5xx('Throttling', 'ServiceUnavailable', (n) => n % 3 === 1)(call, attempt, command);
        },
      });
      const result = await runScenario(world, { group: GROUP, scenario: 'throttling + 5xx from CloudFront' }, async ({ note }) => {
        await rotateBothHops(world);
        note(`CloudFront errors injected: ${describeCounts(faults.injected)}`);
      });
      faults.remove();
      expect(faults.injected.UpdateDistributionCommand).toBeGreaterThanOrEqual(5);
      expect(faults.injected.GetDistributionCommand ?? 0).toBeGreaterThan(0);
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('throttling and 5xx from WAFv2, and an UpdateWebACL outage longer than the SDK retries', async () => {
    await withWorld({}, async (world) => {
      const faults = apiFaults(world.rotationClients.wafv2('REGIONAL'), {
        fail: (call, attempt, command) => {
          if (command === 'UpdateWebACLCommand' && call === 1) return serviceError('WAFInternalErrorException', 'AWS WAF couldn’t perform the operation', 500);
          return throttleThen5xx('ThrottlingException', 'WAFInternalErrorException', (n) => n % 2 === 1)(call, attempt, command);
        },
      });
      const result = await runScenario(world, { group: GROUP, scenario: 'throttling + 5xx from WAFv2' }, async ({ note }) => {
        await rotateBothHops(world);
        note(`WAFv2 errors injected: ${describeCounts(faults.injected)}`);
      });
      faults.remove();
      expect(faults.injected.UpdateWebACLCommand).toBeGreaterThanOrEqual(5);
      expect(faults.injected.GetWebACLCommand).toBeGreaterThan(0);
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('throttling and 5xx from Secrets Manager on both hops', async () => {
    await withWorld({}, async (world) => {
      const faults = apiFaults(world.rotationClients.secretsManager(), {
        fail: throttleThen5xx('ThrottlingException', 'InternalServiceError', (n) => n % 4 === 1),
      });
      const result = await runScenario(world, { group: GROUP, scenario: 'throttling + 5xx from Secrets Manager' }, async ({ note }) => {
        await rotateBothHops(world);
        note(`Secrets Manager errors injected: ${describeCounts(faults.injected)}`);
      });
      faults.remove();
      expect(total(faults.injected)).toBeGreaterThan(10);
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('a Secrets Manager outage in finishSecret after CloudFront switched: rollback, alert, edges switch back, next rotation completes', async () => {
    await withWorld({}, async (world) => {
      const before = (await world.value(CDN))!;
      // The first UpdateSecretVersionStage of the run is finishSecret moving AWSCURRENT: it fails every SDK attempt.
      const faults = apiFaults(world.rotationClients.secretsManager(), {
        commands: ['UpdateSecretVersionStageCommand'],
        fail: (call) => (call === 1 ? serviceError('InternalServiceError', 'An error occurred on the server side', 500) : undefined),
      });
      const result = await runScenario(world, { group: GROUP, scenario: 'Secrets Manager outage in finishSecret (rollback)' }, async ({ note }) => {
        const failed = await rotateInProcess(world.secrets[CDN], world.deps(CDN)).catch((error: unknown) => error);
        expect(failed).toBeInstanceOf(RotationFailedError);
        expect((failed as RotationFailedError).step).toBe('finishSecret');
        expect(fp(await world.value(CDN))).toBe(fp(before));
        const attempted = (await world.value(CDN, 'AWSPREVIOUS'))!;
        expect(fp(attempted)).not.toBe(fp(before));
        note(`finishSecret failed after CloudFront had switched (${describeCounts(faults.injected)}); rolled back`);
        // The next rotation retires the attempted value once every edge is back on the current one.
        const { refusals } = await rotateWhenAllowed(world, CDN);
        world.markRetired(CDN, attempted);
        await retireNow(world, CDN, before);
        note(`the next rotation was refused ${refusals}× until the edges were back on the current value; edges saw ${world.fleet.history.length} deployments`);
        const alerts = world.alerts.events.filter((e) => e.finding.checkId === 'rotation.failed');
        expect(alerts).toHaveLength(1);
      });
      faults.remove();
      expect(world.fleet.history.length, 'CloudFront switched, switched back, then switched to the next value').toBe(3);
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('a concurrent editor changes the same distribution and web ACL mid-rotation: PreconditionFailed and WAFOptimisticLockException, their changes survive', async () => {
    await withWorld({}, async (world) => {
      const cf = concurrentDistributionEditor(world.rotationClients.cloudFront(), world.clients.cloudFront(), world.seeded.distributionId, (config) => {
        config.Comment = 'api.example.com (edited by the platform team)';
        const staticOrigin = config.Origins!.Items!.find((o) => o.Id === 'static-assets')!;
        staticOrigin.CustomHeaders!.Items![0].HeaderValue = 'static-v2';
      });
      const editorRule = {
        Name: 'block-admin-path',
        Priority: 30,
        Action: { Block: {} },
        Statement: {
          ByteMatchStatement: {
            SearchString: new TextEncoder().encode('/admin'),
            FieldToMatch: { UriPath: {} },
            TextTransformations: [{ Priority: 0, Type: 'NONE' as const }],
            PositionalConstraint: 'STARTS_WITH' as const,
          },
        },
        VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'block-admin-path' },
      };
      const waf = concurrentWebAclEditor(world.rotationClients.wafv2('REGIONAL'), world.clients.wafv2('REGIONAL'), { ...world.seeded.gatewayAcl, scope: 'REGIONAL' }, editorRule);
      const result = await runScenario(world, { group: GROUP, scenario: 'concurrent editor of the distribution and the web ACL' }, async ({ note }) => {
        await rotateBothHops(world);
        note(`distribution edited ${cf.edits}× (412 PreconditionFailed answered); web ACL edited ${waf.edits}×, ${waf.lockConflicts} WAFOptimisticLockException from moto`);
      });
      cf.remove();
      waf.remove();
      expect(cf.edits).toBe(1);
      expect(waf.edits).toBe(1);
      expect(waf.lockConflicts).toBeGreaterThanOrEqual(1);
      expectNoRejections(world, result);
      await expectFinalState(world, {
        expectDistribution: (expected) => {
          expected.Comment = 'api.example.com (edited by the platform team)';
          expected.Origins!.Items!.find((o) => o.Id === 'static-assets')!.CustomHeaders!.Items![0].HeaderValue = 'static-v2';
        },
        extraRules: ['block-admin-path'],
      });
      const config = (await world.clients.cloudFront().send(new GetDistributionConfigCommand({ Id: world.seeded.distributionId }))).DistributionConfig!;
      expect(config.Comment).toBe('api.example.com (edited by the platform team)');
    });
  }, TIMEOUT);

  it('Kong admin down: the rotation stops before any sender switches, rolls back, and alerts; it completes once Kong is back', async () => {
    await withWorld({}, async (world) => {
      const before = (await world.value(CDN))!;
      const cloudFrontCalls = recordCalls(world.rotationClients.cloudFront());
      const alertQueue = await world.subscribeToAlerts();
      const result = await runScenario(world, { group: GROUP, scenario: 'Kong admin down (validator cannot be updated)' }, async ({ note }) => {
        world.kong.setDown(true);
        const failed = await rotateInProcess(world.secrets[CDN], world.deps(CDN)).catch((error: unknown) => error);
        world.kong.setDown(false);
        expect(failed).toBeInstanceOf(RotationFailedError);
        expect(failed).toMatchObject({ step: 'setSecret', target: 'kong-route:api' });
        // No sender was touched, nothing is pending, the WAF is back to the current value only.
        expect(cloudFrontCalls.calls.filter((c) => c.command === 'UpdateDistributionCommand')).toEqual([]);
        expect(world.fleet.history).toEqual([]);
        expect(fp(await world.value(CDN))).toBe(fp(before));
        expect(await world.rotationFacts(CDN)).toMatchObject({ pendingElsewhere: [], overlapOpen: false, validatorsSetTag: false });
        expect((await world.cdnState()).wafAccepts?.map(fp)).toEqual([fp(before)]);
        expect(world.kong.route('api')!.headers!['X-Origin-Verify'].map(fp)).toEqual([fp(before)]);
        // The alert went out on the SNS topic (read back through an SQS subscriber), naming the target, without any value.
        const notifications = await alertQueue.received();
        expect(notifications).toHaveLength(1);
        const text = notifications.map((n) => `${n.subject ?? ''}\n${n.message}`).join('\n');
        expect(text).toContain('kong-route:api');
        expect(text).toContain(world.secrets[CDN].name);
        for (const value of await world.allSecretValues()) expect(text.includes(value), `value ${fingerprint(value)} in the alert`).toBe(false);
        note(`rotation failed in setSecret at kong-route:api; ${notifications.length} SNS alert(s): "${notifications[0].subject ?? ''}"`);
        // Kong is back: the next rotation goes through.
        await rotateAndRetire(world, CDN);
      });
      cloudFrontCalls.remove();
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);
});
