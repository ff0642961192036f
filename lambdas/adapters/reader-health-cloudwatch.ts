/**
 * Whether the upstream readers of a secret are known to be stale: the stack's alarm on the verifiers'
 * `VerifierRefreshAgeSeconds` metric (lambdas/verifier). A rotation does not start while it is in ALARM:
 * a reader that cannot refresh would keep accepting only the old values and refuse the new one.
 *
 * What cannot be observed: a reader that reports no metric at all (not using the shipped verifier, or no
 * CloudWatch agent) leaves the alarm without data, which is not treated as stale.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { TargetError } from '../core/errors.ts';

/** The stack's default alarm name for the readers of one configured secret. */
export function verifierStaleAlarmName(secretName: string): string {
  return `origin-guard-verifier-stale-${secretName}`;
}

export function staleReadersCheck(client: () => CloudWatchClient | Promise<CloudWatchClient>, alarmName: string, maxStaleSeconds: number): () => Promise<string[]> {
  return async () => {
    let state: string | undefined;
    let since: Date | undefined;
    try {
      // Loaded on use (on-demand-clients.ts): only a rotation start reads the alarm; the other steps and retire
      // (whose imports reach this file) never do, so their cold starts do not load the CloudWatch client.
      const { DescribeAlarmsCommand } = await import('./on-demand/cloudwatch-sdk.ts');
      const { MetricAlarms } = await (await client()).send(new DescribeAlarmsCommand({ AlarmNames: [alarmName] }));
      state = MetricAlarms?.[0]?.StateValue;
      since = MetricAlarms?.[0]?.StateUpdatedTimestamp;
    } catch (error) {
      throw new TargetError(`cloudwatch-alarm:${alarmName}`, `cannot read the readers' stale alarm: ${(error as Error)?.name ?? 'error'}`, { cause: error });
    }
    if (state !== 'ALARM') return [];
    return [
      `secretsmanager-readers: a verifier has not refreshed for more than ${maxStaleSeconds} s (alarm ${alarmName} in ALARM${since ? ` since ${since.toISOString()}` : ''}); ` +
        'it would keep accepting only the old values: fix its access to Secrets Manager first',
    ];
  };
}
