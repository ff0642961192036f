/**
 * Issue 11 under traffic: writers of one secret at once (leases in the seeded alert-state table), a rotation
 * cut off by its deadline then resumed, a Kong vault whose ttl outlasts the configured one, and upstream
 * verifiers whose refreshes fail before a rotation. Each scenario: 0 legitimate requests refused, 0 forged
 * accepted, and the final state every scenario must reach.
 */
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { verifierStaleAlarmName } from '../../lambdas/adapters/reader-health-cloudwatch.ts';
import { rotationDeps } from '../../lambdas/adapters/rotation-targets.ts';
import type { SecretConfig } from '../../lambdas/config.ts';
import { LeaseHeldError, RotationStateError, RotationStoppedError } from '../../lambdas/core/errors.ts';
import { leaseKey } from '../../lambdas/core/lease.ts';
import { clockWithBudget, systemClock } from '../../lambdas/core/ports.ts';
import { rotateInProcess, ROTATION_STEPS, runRotationStep, type RotationDeps } from '../../lambdas/core/rotation.ts';
import { VERIFIER_METRIC } from '../../lambdas/verifier/index.ts';
import { injectFault, serviceError } from '../support/faults.ts';
import { sleep } from './harness/periodic.ts';
import { expectFinalState, retireNow } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import { CDN, fp, UPSTREAM, type Hop, type World } from './harness/world.ts';

const GROUP = 'rotation writers';
const withWorld = scenarioSuite(4);

/** The product's deps for one hop, with a lease owner of its own in the seeded alert-state table. */
function leased(world: World, hop: Hop, owner: string, extra: Partial<RotationDeps> = {}, secret: SecretConfig = world.secrets[hop]): RotationDeps {
  const leases = new DynamoDbLeases(world.rotationClients.dynamoDb(), world.seeded.stateTableName, owner);
  return rotationDeps(secret, { clients: world.rotationClients, logger: world.log, alerts: world.alerts, fetch: globalThis.fetch }, { leases, ...extra });
}

/** What Secrets Manager does for a deployed rotation: the four steps, one invocation each, same token. */
async function lambdaRotation(world: World, hop: Hop, token: string, deps: RotationDeps): Promise<void> {
  for (const step of ROTATION_STEPS) await runRotationStep(step, token, world.secrets[hop], deps);
}

describe.concurrent('rotation writers under traffic', () => {
  it('concurrent CLI and Lambda rotation: the CLI is refused by the lease while the Lambda rotates; no request refused', async () => {
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'concurrent CLI and Lambda rotation' }, async ({ note }) => {
        const before = (await world.value(CDN))!;
        const token = globalThis.crypto.randomUUID();
        const lambda = leased(world, CDN, 'lambda:origin-guard-rotation:e2e');
        const rotating = lambdaRotation(world, CDN, token, lambda);
        // The operator runs `rotate --local` while the Lambda holds the secret (bounded wait for that moment).
        const observer = new DynamoDbLeases(world.rotationClients.dynamoDb(), world.seeded.stateTableName, 'observer');
        let cli: unknown;
        for (let i = 0; i < 400 && cli === undefined; i++) {
          if (await observer.holder(leaseKey.secret(CDN))) {
            cli = await rotateInProcess(world.secrets[CDN], leased(world, CDN, 'cli:e2e')).then(() => 'rotated', (error: unknown) => error);
          } else await sleep(10);
        }
        await rotating;
        expect(cli).toBeInstanceOf(LeaseHeldError);
        expect((cli as Error).message).toMatch(/is being changed by rotation \w+ \(token [0-9a-f-]+\) \(lambda:origin-guard-rotation:e2e/);
        note(`CLI refused: ${(cli as Error).message.slice(0, 80)}…`);
        await retireNow(world, CDN, before, lambda);
        expect(fp(await world.value(CDN))).not.toBe(fp(before));
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('a rotation cut off by its deadline stops cleanly, alerts, and the next invocation finishes it; no request refused', async () => {
    // Readers cache 4 s: testSecret's wait is still ahead when the short invocation reaches it, even on a busy machine.
    await withWorld({ timing: { readerCacheTtlSeconds: 4 } }, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'rotation cut off by its deadline, then resumed' }, async ({ note }) => {
        const before = (await world.value(UPSTREAM))!;
        const token = globalThis.crypto.randomUUID();
        // An invocation with 60 s left: less than the reader cache wait plus the 120 s margin.
        const short = leased(world, UPSTREAM, 'lambda:rotation:short', { clock: clockWithBudget(systemClock, 60_000) });
        let stopped: unknown;
        try {
          await lambdaRotation(world, UPSTREAM, token, short);
        } catch (error) {
          stopped = error;
        }
        expect(stopped).toBeInstanceOf(RotationStoppedError);
        expect((stopped as RotationStoppedError).step).toBe('testSecret');
        expect(world.alerts.events.map((e) => e.finding.checkId)).toContain('rotation.stopped');
        expect(fp(await world.value(UPSTREAM, 'AWSPENDING'))).not.toBe('(none)');
        note('stopped in testSecret; Secrets Manager retries every step with the same token');
        await lambdaRotation(world, UPSTREAM, token, leased(world, UPSTREAM, 'lambda:rotation:retry', { clock: clockWithBudget(systemClock, 600_000) }));
        await retireNow(world, UPSTREAM, before);
        expect(fp(await world.value(UPSTREAM))).not.toBe(fp(before));
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('a Kong vault ttl longer than configured refuses the rotation before anything changes; no request refused', async () => {
    await withWorld({}, async (world) => {
      const result = await runScenario(world, { group: GROUP, scenario: 'Kong vault ttl longer than configured' }, async ({ note }) => {
        const before = (await world.value(UPSTREAM))!;
        const kongRoute = world.secrets[CDN].validators.find((v) => v.type === 'kong-route')!;
        const secret = structuredClone(world.secrets[UPSTREAM]);
        const sender = secret.senders[0]!;
        if (sender.type !== 'kong-vault' || kongRoute.type !== 'kong-route') throw new Error('unexpected world config');
        Object.assign(sender, { vaultAdminUrl: world.kong.url, vaultPrefix: 'aws', vaultTokenSecretName: kongRoute.tokenSecretName });
        world.kong.addVault('aws', { ttl: 600, resurrect_ttl: 86_400 });

        const refused = await rotateInProcess(secret, leased(world, UPSTREAM, 'cli:e2e', {}, secret)).catch((error: unknown) => error);

        expect(refused).toBeInstanceOf(RotationStateError);
        expect((refused as Error).message).toMatch(/nothing was changed: kong-vault:secretsmanager: Kong vault "aws" has ttl 600 s, longer than the configured ttlSeconds/);
        expect(fp(await world.value(UPSTREAM))).toBe(fp(before));
        expect(await world.value(UPSTREAM, 'AWSPENDING')).toBeUndefined();
        note('refused before any change: the vault would keep the old value 600 s, the rotation waits only the configured ttl');
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);

  it('upstream verifiers whose refreshes fail: the stale alarm fires and no rotation starts; it rotates once they recover', async () => {
    await withWorld({}, async (world) => {
      const maxStaleSeconds = 2;
      const secret = structuredClone(world.secrets[UPSTREAM]);
      const readers = secret.validators.find((v) => v.type === 'secretsmanager-readers')!;
      if (readers.type !== 'secretsmanager-readers') throw new Error('unexpected world config');
      readers.maxStaleSeconds = maxStaleSeconds;
      const alarmName = verifierStaleAlarmName(`${secret.name}-${world.seeded.stateTableName.slice(-8)}`);
      readers.staleAlarmName = alarmName;
      const cloudWatch = world.rotationClients.cloudWatch();
      // The stack's alarm on the verifiers' EMF metric. moto does not evaluate alarms: the scenario sets the state
      // CloudWatch would set from the verifiers' reported refresh age.
      await cloudWatch.send(
        new PutMetricAlarmCommand({
          AlarmName: alarmName,
          Namespace: VERIFIER_METRIC.namespace,
          MetricName: VERIFIER_METRIC.name,
          Dimensions: [{ Name: VERIFIER_METRIC.dimension, Value: secret.secretName }],
          Statistic: 'Maximum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: maxStaleSeconds,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      );
      const result = await runScenario(world, { group: GROUP, scenario: 'verifier refreshes failing before a rotation' }, async ({ note }) => {
        const before = (await world.value(UPSTREAM))!;
        // Each upstream reads through its own client (test/e2e/harness/world.ts): fail every one of them.
        const faults = world.upstreams.map((u) =>
          injectFault(u.client as never, {
            command: 'DescribeSecretCommand',
            error: () => serviceError('AccessDeniedException', 'the upstream role lost secretsmanager:DescribeSecret', 400),
          }),
        );
        const fault = { remove: () => faults.forEach((f) => f.remove()) };
        const stale = await world.until(() => world.upstreams.every((u) => u.verifier.health().ageSeconds > maxStaleSeconds && u.verifier.health().failing), 15_000);
        expect(stale, 'every verifier reports a refresh age past maxStaleSeconds').toBe(true);
        const age = Math.max(...world.upstreams.map((u) => u.verifier.health().ageSeconds));
        await cloudWatch.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'ALARM', StateReason: `VerifierRefreshAgeSeconds ${age.toFixed(1)} > ${maxStaleSeconds}` }));
        note(`verifiers stale (${age.toFixed(1)} s): alarm in ALARM`);

        const refused = await rotateInProcess(secret, leased(world, UPSTREAM, 'cli:e2e', {}, secret)).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(RotationStateError);
        expect((refused as Error).message).toMatch(/a verifier has not refreshed for more than 2 s/);
        expect(fp(await world.value(UPSTREAM))).toBe(fp(before));
        expect(await world.value(UPSTREAM, 'AWSPENDING')).toBeUndefined();

        fault.remove();
        const fresh = await world.until(async () => {
          for (const u of world.upstreams) await u.verifier.refresh().catch(() => undefined);
          return world.upstreams.every((u) => !u.verifier.health().stale && !u.verifier.health().failing);
        }, 15_000, 200);
        expect(fresh, 'verifiers refresh again once the fault is gone').toBe(true);
        await cloudWatch.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'OK', StateReason: 'recovered' }));
        await rotateInProcess(secret, leased(world, UPSTREAM, 'cli:e2e', {}, secret));
        await retireNow(world, UPSTREAM, before, leased(world, UPSTREAM, 'cli:e2e-retire', {}, secret));
        note('after recovery: rotated and retired');
      });
      expectNoRejections(world, result);
      await expectFinalState(world);
    });
  }, TIMEOUT);
});
