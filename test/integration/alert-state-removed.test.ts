/**
 * Removing a secret, target or audit item from the config: the next full audit resolves its open alert (one
 * RESOLVED) and removes its state row, on the emulator's DynamoDB table; what is still configured stays.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { configuredIdentifiers, resolveRemovedItems, type AlertState } from '../../lambdas/core/alerts.ts';
import type { AlertEvent } from '../../lambdas/core/ports.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';

const client = new DynamoDBClient(emulatorClientConfig());
let table: string;
let store: DynamoDbAlertState;
const log = { debug() {}, info() {}, warn() {}, error() {} } as any;

const failing = (findingId: string, resource: string, version = 1): AlertState => ({
  findingId,
  status: 'FAIL',
  checkId: findingId.split(':')[0],
  resource,
  severity: 'HIGH',
  failingSince: '2026-12-01T00:00:00.000Z',
  lastAlertedAt: '2026-12-01T00:00:00.000Z',
  version,
});

async function row(id: string) {
  return (await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  table = uniqueName('alert-removed');
  store = new DynamoDbAlertState(client, table);
  await store.ensureTable();
});

describe('alerts of items removed from the configuration', () => {
  it('lists failing states only (not resolved ones, not leases), and removes a state only at the version read', async () => {
    await store.put(failing('sg.open-ingress:sg-0aaa1111', 'sg-0aaa1111'), undefined);
    await store.put({ ...failing('waf.missing-rule:acl-1', 'acl-1'), status: 'PASS', failingSince: undefined }, undefined);
    const lease = await new DynamoDbLeases(client, table, 'test:owner').acquire('audit:123456789012/eu-west-1', 'audit', 60_000);
    try {
      expect((await store.failing()).map((s) => s.findingId)).toEqual(['sg.open-ingress:sg-0aaa1111']);
      const [state] = await store.failing();
      expect(await store.remove({ ...state, version: state.version + 1 })).toBe(false);
      expect(await row(state.findingId)).toBeDefined();
      expect(await store.remove(state)).toBe(true);
      expect(await row(state.findingId)).toBeUndefined();
    } finally {
      await lease.release();
    }
  });

  it('a full audit after an item left the config: one RESOLVED naming it, its row gone; configured and still-found items stay', async () => {
    const config = {
      secrets: [{ name: 'cdn-to-gateway', secretName: 'origin-guard/cdn-to-gateway', senders: [{ type: 'cloudfront', distributionId: 'E2KEEP' }] }],
      ipRanges: { targets: [{ name: 'alb-kept', securityGroupIds: ['sg-0kept0000'] }] },
    };
    const removedGroup = failing('sg.open-ingress:sg-0gone0000', 'sg-0gone0000');
    const removedSecret = failing('secret.rotation-overdue:origin-guard/old-secret', 'origin-guard/old-secret');
    const keptGroup = failing('sg.open-ingress:sg-0kept0000', 'sg-0kept0000');
    const keptDistribution = failing('cf.header-missing:E2KEEP', 'E2KEEP');
    const stillFound = failing('bypass.public-alb:arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1', 'arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1');
    for (const s of [removedGroup, removedSecret, keptGroup, keptDistribution, stillFound]) await store.put(s, undefined);
    const published: AlertEvent[] = [];
    const publisher = { publish: async (e: AlertEvent) => void published.push(e) };

    // The full audit found the kept items (passing or failing) and the discovered ALB: not the removed ones.
    const current = new Set([keptGroup.findingId, stillFound.findingId]);
    const result = await resolveRemovedItems(store, publisher, current, configuredIdentifiers(config), log);

    expect(result.errors).toEqual([]);
    expect(published.map((e) => [e.kind, e.finding.id]).sort()).toEqual([
      ['RESOLVED', removedSecret.findingId],
      ['RESOLVED', removedGroup.findingId],
    ]);
    expect(published[0].finding.message).toMatch(/no longer in the origin-guard configuration/);
    expect(await row(removedGroup.findingId)).toBeUndefined();
    expect(await row(removedSecret.findingId)).toBeUndefined();
    for (const kept of [keptGroup, keptDistribution, stillFound]) expect((await row(kept.findingId))?.status?.S).toBe('FAIL');

    // The next full audit: nothing more to resolve.
    published.length = 0;
    await resolveRemovedItems(store, publisher, current, configuredIdentifiers(config), log);
    expect(published).toEqual([]);
  });

  it('a publish that fails puts the row back, so the next full audit sends the RESOLVED', async () => {
    // A table of its own: only this item is failing in it.
    table = uniqueName('alert-removed-flaky');
    store = new DynamoDbAlertState(client, table);
    await store.ensureTable();
    const gone = failing('sg.open-ingress:sg-0flaky000', 'sg-0flaky000');
    await store.put(gone, undefined);
    const broken = { publish: async () => { throw new Error('SNS is down'); } };
    const first = await resolveRemovedItems(store, broken, new Set(), ['sg-0other000'], log);
    expect(first.errors).toHaveLength(1);
    expect(first.errors[0]).toMatch(/^sg\.open-ingress:sg-0flaky000: publishing the RESOLVED alert failed: .*SNS is down/);
    expect((await row(gone.findingId))?.status?.S).toBe('FAIL');
    const published: AlertEvent[] = [];
    const second = await resolveRemovedItems(store, { publish: async (e: AlertEvent) => void published.push(e) }, new Set(), ['sg-0other000'], log);
    expect(second.errors).toEqual([]);
    expect(published.map((e) => e.finding.id)).toEqual([gone.findingId]);
    expect(await row(gone.findingId)).toBeUndefined();
  });
});
