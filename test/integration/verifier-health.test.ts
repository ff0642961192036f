/**
 * Propagation observed, not assumed, for upstream readers: the verifier reports the age of its last good
 * refresh (EMF), and a rotation does not start while the stack's stale alarm is in ALARM (moto_server's
 * CloudWatch; moto does not evaluate alarms, so the test sets the state CloudWatch would set).
 */
import { randomBytes } from 'node:crypto';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staleReadersCheck } from '../../lambdas/adapters/reader-health-cloudwatch.ts';
import { SecretsManagerStore } from '../../lambdas/adapters/secrets-manager.ts';
import { SecretsManagerReadersValidator } from '../../lambdas/adapters/secretsmanager-readers.ts';
import { RotationStateError } from '../../lambdas/core/errors.ts';
import { STAGE, systemClock } from '../../lambdas/core/ports.ts';
import { rotateInProcess } from '../../lambdas/core/rotation.ts';
import { createOriginVerifier, VERIFIER_METRIC } from '../../lambdas/verifier/index.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, serviceError } from '../support/faults.ts';
import { MemorySender } from '../support/memory-targets.ts';

let sm: SecretsManagerClient;
let cw: CloudWatchClient;
beforeAll(() => {
  sm = new SecretsManagerClient(emulatorClientConfig());
  cw = new CloudWatchClient(emulatorClientConfig());
});
afterAll(() => {
  sm.destroy();
  cw.destroy();
});

describe('verifier refresh health', () => {
  it('reports the age of its last good refresh, timestamped before the read, and turns stale when refreshes keep failing', async () => {
    const name = uniqueName('origin-verify');
    const value = randomBytes(24).toString('hex');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    let t = 1_000_000;
    const lines: string[] = [];
    const verifier = createOriginVerifier({
      secretId: name,
      headerName: 'x-kong-origin-verify',
      cacheTtlSeconds: 10,
      maxStaleSeconds: 60,
      client: sm,
      now: () => t,
      onMetric: (line) => lines.push(line),
    });
    // Each read (DescribeSecret, GetSecretValue) takes 3 s: the refresh counts from before them.
    sm.middlewareStack.add((next) => async (args) => ((t += 3_000), next(args)), { step: 'initialize', name: 'slow-read', priority: 'low' });
    await verifier.refresh();
    sm.middlewareStack.remove('slow-read');
    expect(verifier.health()).toMatchObject({ lastGoodRefreshAt: new Date(1_000_000), stale: false, failing: false });
    expect(verifier.health().ageSeconds).toBe(6);

    const fault = injectFault(sm as never, { command: 'DescribeSecretCommand', error: () => serviceError('AccessDeniedException', 'denied', 400) });
    t += 70_000;
    expect(await verifier.verify(value)).toBe(true); // keeps serving the last known values
    fault.remove();

    expect(verifier.health()).toMatchObject({ stale: true, failing: true });
    const last = JSON.parse(lines.at(-1)!);
    expect(last._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: VERIFIER_METRIC.namespace,
      Dimensions: [['Secret']],
      Metrics: [{ Name: 'VerifierRefreshAgeSeconds', Unit: 'Seconds' }],
    });
    expect(last).toMatchObject({ Secret: name, VerifierRefreshAgeSeconds: 76 });
    expect(lines.join('\n')).not.toContain(value);
  });

  it('a rotation does not start while the readers stale alarm is in ALARM; it starts once the alarm is OK', async () => {
    const name = uniqueName('origin-verify');
    const value = randomBytes(24).toString('hex');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    const alarmName = uniqueName('origin-guard-verifier-stale');
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: alarmName,
        Namespace: VERIFIER_METRIC.namespace,
        MetricName: VERIFIER_METRIC.name,
        Dimensions: [{ Name: 'Secret', Value: name }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 60,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
    await cw.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'ALARM', StateReason: 'VerifierRefreshAgeSeconds 130 > 60' }));
    const store = new SecretsManagerStore(sm, name);
    const readers = new SecretsManagerReadersValidator({ store, cacheTtlSeconds: 0, staleCheck: staleReadersCheck(() => cw, alarmName, 60) });
    const deps = { store, senders: [new MemorySender('kong-vault:secretsmanager', value)], validators: [readers], clock: systemClock, log: { debug() {}, info() {}, warn() {}, error() {} } };
    const settings = { name: 'gateway-to-upstream', headerName: 'x-kong-origin-verify', overlapMinutes: 0 };

    const refused = await rotateInProcess(settings, deps).catch((error) => error);

    expect(refused).toBeInstanceOf(RotationStateError);
    expect(refused.message).toMatch(new RegExp(`refusing to rotate, nothing was changed: secretsmanager-readers: a verifier has not refreshed for more than 60 s \\(alarm ${alarmName} in ALARM`));
    const versions = (await store.describe()).versions;
    expect(versions.filter((v) => v.stages.includes(STAGE.PENDING))).toEqual([]);
    expect(await store.value({ stage: STAGE.CURRENT })).toBe(value);

    await cw.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'OK', StateReason: 'recovered' }));
    await rotateInProcess(settings, deps);
    expect(await store.value({ stage: STAGE.CURRENT })).not.toBe(value);
  });
});
