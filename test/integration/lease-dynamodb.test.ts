import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { LeaseHeldError, LeaseLostError } from '../../lambdas/core/errors.ts';
import { leaseKey, withLease } from '../../lambdas/core/lease.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';

const client = new DynamoDBClient(emulatorClientConfig());
let table: string;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);

beforeAll(async () => {
  table = uniqueName('leases');
  await new DynamoDbAlertState(client, table).ensureTable();
});

describe('leases in the alert-state table', () => {
  it('lets one writer in and refuses a second with one sentence naming the holder, what it does and since when', async () => {
    const key = leaseKey.secret(uniqueName('s'));
    const lambda = new DynamoDbLeases(client, table, 'lambda:rotation:req-1', now);
    const cli = new DynamoDbLeases(client, table, 'cli:laptop:42', now);

    const lease = await lambda.acquire(key, 'rotation testSecret', 60_000);
    const refused = await cli.acquire(key, 'rotate --local', 60_000).catch((e: unknown) => e);

    expect(refused).toBeInstanceOf(LeaseHeldError);
    expect((refused as Error).message).toMatch(new RegExp(`^${key} is being changed by rotation testSecret \\(lambda:rotation:req-1\\) since \\d{4}-`));
    await lease.release();
    const second = await cli.acquire(key, 'rotate --local', 60_000);
    expect((await lambda.holder(key))?.owner).toBe('cli:laptop:42');
    await second.release();
    expect(await lambda.holder(key)).toBeUndefined();
  });

  it('is taken over only after it expired, and the old holder finds out before its next write', async () => {
    const key = leaseKey.reconcileTarget(uniqueName('t'));
    const first = new DynamoDbLeases(client, table, 'first', now);
    const second = new DynamoDbLeases(client, table, 'second', now);
    const lease = await first.acquire(key, 'reconcile', 1_000);
    await expect(second.acquire(key, 'reconcile', 1_000)).rejects.toBeInstanceOf(LeaseHeldError);

    offsetMs += 5_000;
    const taken = await second.acquire(key, 'reconcile', 60_000);

    await expect(lease.check()).rejects.toBeInstanceOf(LeaseLostError);
    await expect(lease.extend(60_000)).rejects.toBeInstanceOf(LeaseLostError);
    await lease.release(); // not the owner any more: a no-op
    expect((await first.holder(key))?.owner).toBe('second');
    await taken.release();
  });

  it('extends while held, and withLease releases on a throw', async () => {
    const key = leaseKey.secret(uniqueName('s'));
    const leases = new DynamoDbLeases(client, table, 'waiter', now);
    await expect(
      withLease(leases, key, 'retire --wait', 1_000, async (lease) => {
        await lease.extend(120_000);
        const holder = await leases.holder(key);
        expect(holder!.expiresAt.getTime() - now().getTime()).toBeGreaterThan(60_000);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await leases.holder(key)).toBeUndefined();
  });

  it('lets exactly one of many simultaneous writers in', async () => {
    const key = leaseKey.secret(uniqueName('s'));
    const writers = Array.from({ length: 8 }, (_, i) => new DynamoDbLeases(client, table, `w${i}`, now));
    const results = await Promise.allSettled(writers.map((w) => w.acquire(key, 'rotate', 60_000)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof LeaseHeldError)).toHaveLength(7);
  });
});
