/**
 * Scheduled retire: for each secret whose overlap is open, narrow validators to the current value once the
 * overlap has passed and every sender has propagated. Never waits: the next tick tries again.
 */
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import { describeError, LeaseHeldError } from '../core/errors.ts';
import { retire, type RetireResult } from '../core/rotation.ts';
import { METRIC_SERVICE } from '../core/metric-names.ts';
import { createMetrics, recordRetireMetrics } from '../metrics.ts';
import { lambdaRuntime } from '../runtime.ts';
import { rotationDeps } from '../adapters/rotation-targets.ts';
import { accountClientsOf } from '../adapters/account-clients.ts';
import { lambdaClock, lambdaLeases, type LambdaContextLike } from '../adapters/lambda-writer.ts';

const metrics = createMetrics(METRIC_SERVICE.retire);

export const handler = async (_event?: unknown, context?: LambdaContextLike): Promise<Record<string, RetireResult | { status: 'error'; reason: string }>> => {
  const runtime = lambdaRuntime(METRIC_SERVICE.retire, { SecretsManagerClient, CloudFrontClient, WAFV2Client, SNSClient, DynamoDBClient });
  const leases = lambdaLeases(runtime, METRIC_SERVICE.retire, context);
  const clock = lambdaClock(context);
  const results: Record<string, RetireResult | { status: 'error'; reason: string }> = {};
  const failed: string[] = [];
  for (const secret of runtime.config.secrets) {
    // Retire narrows the same validators as the rotation, through the same spoke roles.
    const deps = rotationDeps(secret, { ...runtime, clock, accounts: accountClientsOf(runtime.config, runtime.clients, 'rotate') }, { leases });
    try {
      results[secret.name] = await retire(secret, deps);
      runtime.logger.info('retire checked', { secret: secret.name, ...results[secret.name] });
    } catch (error) {
      if (error instanceof LeaseHeldError) {
        // Another writer (a rotation step, the CLI) has the secret now: not a failure, the next tick tries again.
        results[secret.name] = { status: 'waiting', reason: error.message };
        runtime.logger.info('retire skipped: the secret is leased', { secret: secret.name, reason: error.message });
        continue;
      }
      failed.push(secret.name);
      results[secret.name] = { status: 'error', reason: describeError(error) };
      // No alert per tick (every 5 minutes): the function's Errors alarm fires once, and the audit's
      // secret.overlap-window finding alerts once, and again when it is resolved. Traffic is not affected:
      // the overlap stays open, old and new values both accepted.
      runtime.logger.error('retire failed', { secret: secret.name, error: describeError(error) });
    }
  }
  recordRetireMetrics(metrics, results);
  metrics.publishStoredMetrics();
  // Fail the invocation so the Errors alarm fires; every secret was still tried.
  if (failed.length) throw new Error(`retire failed for ${failed.join(', ')}`);
  return results;
};
