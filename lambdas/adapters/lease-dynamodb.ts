/**
 * Leases in the alert-state table (partition key `id`): one item `lease:<key>` per leased secret or target.
 * Acquire is a conditional put (free, or expired); extend and release are conditional on the owner. The
 * `ttl` attribute (epoch seconds, a day after expiry) lets DynamoDB's TTL remove what a crash left behind.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { LeaseHeldError, TargetError, describeError } from '../core/errors.ts';
import { lostLease, type Lease, type LeaseHolder, type LeasePort } from '../core/lease.ts';
import { ALERT_STATE_KEY } from './alert-state-dynamodb.ts';

const TTL_GRACE_SECONDS = 24 * 3600;
/** A holder that released between our failed put and our read: try the put again, at most this often. */
const MAX_ACQUIRE_ATTEMPTS = 3;

export class DynamoDbLeases implements LeasePort {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly owner: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private id(key: string): Record<string, AttributeValue> {
    return { [ALERT_STATE_KEY]: { S: `lease:${key}` } };
  }

  private expiryAttributes(durationMs: number): Record<string, AttributeValue> {
    const expiresAt = this.now().getTime() + durationMs;
    return { ':expiresAt': { N: String(expiresAt) }, ':ttl': { N: String(Math.ceil(expiresAt / 1000) + TTL_GRACE_SECONDS) } };
  }

  private fail(key: string, action: string, error: unknown): TargetError {
    return new TargetError(`dynamodb:${this.tableName}`, `could not ${action} the lease of ${key}: ${describeError(error)}`, { cause: error });
  }

  async acquire(key: string, purpose: string, durationMs: number): Promise<Lease> {
    for (let attempt = 1; ; attempt += 1) {
      const now = this.now();
      const expiry = this.expiryAttributes(durationMs);
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              ...this.id(key),
              owner: { S: this.owner },
              purpose: { S: purpose },
              acquiredAt: { S: now.toISOString() },
              expiresAt: expiry[':expiresAt'],
              ttl: expiry[':ttl'],
            },
            ConditionExpression: `attribute_not_exists(#id) OR expiresAt < :now`,
            ExpressionAttributeNames: { '#id': ALERT_STATE_KEY },
            ExpressionAttributeValues: { ':now': { N: String(now.getTime()) } },
          }),
        );
        return this.lease(key, purpose);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw this.fail(key, 'take', error);
      }
      const holder = await this.holder(key);
      if (holder) throw new LeaseHeldError(key, holder);
      if (attempt >= MAX_ACQUIRE_ATTEMPTS) {
        throw new LeaseHeldError(key, { owner: 'unknown', purpose: 'another writer', acquiredAt: now, expiresAt: new Date(now.getTime() + durationMs) });
      }
    }
  }

  async holder(key: string): Promise<LeaseHolder | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: this.id(key), ConsistentRead: true })));
    } catch (error) {
      throw this.fail(key, 'read', error);
    }
    if (!item) return undefined;
    const expiresAt = Number(item.expiresAt?.N);
    if (!Number.isFinite(expiresAt) || expiresAt < this.now().getTime()) return undefined;
    return {
      owner: item.owner?.S ?? 'unknown',
      purpose: item.purpose?.S ?? 'unknown',
      acquiredAt: new Date(item.acquiredAt?.S ?? 0),
      expiresAt: new Date(expiresAt),
    };
  }

  private lease(key: string, purpose: string): Lease {
    const owned = {
      ConditionExpression: '#owner = :owner',
      names: { '#owner': 'owner' },
      values: { ':owner': { S: this.owner } },
    };
    return {
      key,
      owner: this.owner,
      purpose,
      extend: async (durationMs) => {
        try {
          await this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: this.id(key),
              UpdateExpression: 'SET expiresAt = :expiresAt, #ttl = :ttl',
              ConditionExpression: `${owned.ConditionExpression} AND expiresAt >= :now`,
              ExpressionAttributeNames: { ...owned.names, '#ttl': 'ttl' },
              ExpressionAttributeValues: { ...owned.values, ...this.expiryAttributes(durationMs), ':now': { N: String(this.now().getTime()) } },
            }),
          );
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) throw lostLease(key, this.owner, 'it expired or another writer took it');
          throw this.fail(key, 'extend', error);
        }
      },
      check: async () => {
        const holder = await this.holder(key);
        if (holder?.owner !== this.owner) throw lostLease(key, this.owner, holder ? `${holder.purpose} (${holder.owner}) holds it now` : 'it expired');
      },
      release: async () => {
        try {
          await this.client.send(
            new DeleteItemCommand({
              TableName: this.tableName,
              Key: this.id(key),
              ConditionExpression: owned.ConditionExpression,
              ExpressionAttributeNames: owned.names,
              ExpressionAttributeValues: owned.values,
            }),
          );
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw this.fail(key, 'release', error);
        }
      },
    };
  }
}
