/**
 * The alert state table: one item per finding id (partition key `id`, a string), remembering whether its last
 * alert was a failure and when it was sent. Writes are conditional on the version read, so two audits that
 * run at once send one alert between them.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  PutItemCommand,
  ResourceNotFoundException,
  ScanCommand,
  waitUntilTableExists,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { AlertState, RemovableAlertStatePort } from '../core/alerts.ts';
import { TargetError } from '../core/errors.ts';
import type { Severity } from '../core/ports.ts';

/** The table's partition key (string). The CDK stack creates the table with the same key. */
export const ALERT_STATE_KEY = 'id';
/** BatchGetItem takes at most 100 keys. */
const BATCH_SIZE = 100;
/** A Scan for failing states reads at most this many pages (1 MB each). */
const MAX_SCAN_PAGES = 50;
/** Unprocessed keys are retried this often before giving up. */
const MAX_BATCH_RETRIES = 5;

function toItem(state: AlertState): Record<string, AttributeValue> {
  return {
    [ALERT_STATE_KEY]: { S: state.findingId },
    status: { S: state.status },
    checkId: { S: state.checkId },
    resource: { S: state.resource },
    severity: { S: state.severity },
    lastAlertedAt: { S: state.lastAlertedAt },
    version: { N: String(state.version) },
    ...(state.failingSince ? { failingSince: { S: state.failingSince } } : {}),
    ...(state.observedAt ? { observedAt: { S: state.observedAt } } : {}),
  };
}

function fromItem(item: Record<string, AttributeValue>): AlertState | undefined {
  const id = item[ALERT_STATE_KEY]?.S;
  const status = item.status?.S;
  if (!id || (status !== 'PASS' && status !== 'FAIL')) return undefined;
  return {
    findingId: id,
    status,
    checkId: item.checkId?.S ?? '',
    resource: item.resource?.S ?? '',
    severity: (item.severity?.S ?? 'MEDIUM') as Severity,
    lastAlertedAt: item.lastAlertedAt?.S ?? '',
    version: Number(item.version?.N ?? '0'),
    ...(item.failingSince?.S ? { failingSince: item.failingSince.S } : {}),
    ...(item.observedAt?.S ? { observedAt: item.observedAt.S } : {}),
  };
}

export class DynamoDbAlertState implements RemovableAlertStatePort {
  private readonly target: string;
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.target = `dynamodb:${tableName}`;
  }

  async get(findingIds: string[]): Promise<Map<string, AlertState>> {
    const states = new Map<string, AlertState>();
    const ids = [...new Set(findingIds)];
    for (let start = 0; start < ids.length; start += BATCH_SIZE) {
      let keys: Array<Record<string, AttributeValue>> = ids.slice(start, start + BATCH_SIZE).map((id) => ({ [ALERT_STATE_KEY]: { S: id } }));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        if (attempt > MAX_BATCH_RETRIES) {
          throw new TargetError(this.target, `reading alert states: ${keys.length} keys stayed unprocessed (throttling); retry later.`, { retryable: true });
        }
        if (attempt > 0) await this.sleep(50 * 2 ** attempt);
        const response = await this.call('reading alert states (BatchGetItem)', () =>
          this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } })),
        );
        for (const item of response.Responses?.[this.tableName] ?? []) {
          const state = fromItem(item);
          if (state) states.set(state.findingId, state);
        }
        keys = response.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return states;
  }

  async put(next: AlertState, previous: AlertState | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem(next),
          ...(previous
            ? {
                ConditionExpression: '#version = :previous',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':previous': { N: String(previous.version) } },
              }
            : { ConditionExpression: 'attribute_not_exists(#id)', ExpressionAttributeNames: { '#id': ALERT_STATE_KEY } }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException') return false;
      throw this.translate('writing an alert state (PutItem)', error);
    }
  }

  /** Every FAIL state (a Scan filtered on `status`; lease items have none), at most MAX_SCAN_PAGES pages. */
  async failing(): Promise<AlertState[]> {
    const states: AlertState[] = [];
    let start: Record<string, AttributeValue> | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
      const response = await this.call('listing failing alert states (Scan)', () =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            FilterExpression: '#status = :fail',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':fail': { S: 'FAIL' } },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of response.Items ?? []) {
        const state = fromItem(item);
        if (state) states.push(state);
      }
      start = response.LastEvaluatedKey;
      if (!start) return states;
    }
    throw new TargetError(this.target, `listing failing alert states: more than ${MAX_SCAN_PAGES} pages; nothing removed.`);
  }

  async remove(state: AlertState): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { [ALERT_STATE_KEY]: { S: state.findingId } },
          ConditionExpression: '#version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':version': { N: String(state.version) } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException') return false;
      throw this.translate('removing an alert state (DeleteItem)', error);
    }
  }

  /**
   * Creates the table when it does not exist (local runs, the demo); the deployed stack creates its own.
   * Returns whether it created it.
   */
  async ensureTable(options: { timeoutSeconds?: number } = {}): Promise<boolean> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return false;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException) && (error as { name?: string })?.name !== 'ResourceNotFoundException') {
        throw this.translate('looking up the alert state table (DescribeTable)', error);
      }
    }
    await this.call('creating the alert state table (CreateTable)', () =>
      this.client.send(
        new CreateTableCommand({
          TableName: this.tableName,
          AttributeDefinitions: [{ AttributeName: ALERT_STATE_KEY, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: ALERT_STATE_KEY, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      ),
    );
    await waitUntilTableExists({ client: this.client, maxWaitTime: options.timeoutSeconds ?? 60, minDelay: 1, maxDelay: 5 }, { TableName: this.tableName });
    return true;
  }

  private async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.translate(doing, error);
    }
  }

  private translate(doing: string, error: unknown): TargetError {
    const name = (error as { name?: string })?.name ?? 'Error';
    const hint =
      name === 'ResourceNotFoundException'
        ? ' The table does not exist: check alerts.stateTableName or the stack output AlertStateTableName.'
        : name === 'AccessDeniedException'
          ? ' Grant dynamodb:BatchGetItem, PutItem (and DescribeTable, CreateTable for local runs) on the table.'
          : '';
    return new TargetError(this.target, `${doing} failed (${name}: ${(error as Error)?.message ?? String(error)}).${hint}`, {
      cause: error,
      retryable: name.includes('Throughput') || name.includes('Throttl') || name === 'InternalServerError',
    });
  }
}
