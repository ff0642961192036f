/**
 * What every writer Lambda (rotation, retire) needs beyond its targets: the secret leases in the alert-state
 * table and a clock whose deadline is the invocation's remaining time.
 */
import { ConfigError } from '../config.ts';
import { leaseOwner, type LeasePort } from '../core/lease.ts';
import { systemClock, type Clock } from '../core/ports.ts';
import type { LambdaRuntime } from '../runtime.ts';
import { DynamoDbLeases } from './lease-dynamodb.ts';

/** The part of the Lambda context the writers use. */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

/** The system clock, with `remainingMs` from the invocation (no deadline when called without a context). */
export function lambdaClock(context: LambdaContextLike | undefined): Clock {
  if (!context) return systemClock;
  return { now: systemClock.now, sleep: systemClock.sleep, remainingMs: () => context.getRemainingTimeInMillis() };
}

/**
 * Leases in `ALERT_STATE_TABLE` (else `alerts.stateTableName`). A writer without a lease table would race the
 * CLI and the other writer: refuse to run instead, naming the setting.
 */
export function lambdaLeases(runtime: LambdaRuntime, serviceName: string, context?: LambdaContextLike, env: NodeJS.ProcessEnv = process.env): LeasePort {
  const tableName = env.ALERT_STATE_TABLE ?? runtime.config.alerts.stateTableName;
  if (!tableName) {
    throw new ConfigError('the Lambda environment', ['ALERT_STATE_TABLE: is not set and alerts.stateTableName is absent; the secret leases live in that table']);
  }
  return new DynamoDbLeases(runtime.clients.dynamoDb(), tableName, leaseOwner('lambda', `${serviceName}:${context?.awsRequestId ?? 'local'}`));
}
