/**
 * Items removed from the configuration, exactly (issue 15: mutation survivors in lambdas/core/alerts.ts): which
 * identifiers the configuration names, which failing states count as removed, the RESOLVED alert word for word,
 * and each failure of the store or the publisher, with an in-memory removable store.
 */
import { describe, expect, it } from 'vitest';
import { configuredIdentifiers, isRemovableAlertState, removedItemStates, resolveRemovedItems, type AlertState, type RemovableAlertStatePort } from '../../lambdas/core/alerts.ts';
import { silentLog, type AlertEvent, type LogPort } from '../../lambdas/core/ports.ts';

const state = (findingId: string, resource: string, overrides: Partial<AlertState> = {}): AlertState => ({
  findingId,
  status: 'FAIL',
  checkId: findingId.split(':')[0],
  resource,
  severity: 'HIGH',
  failingSince: '2026-12-01T00:00:00.000Z',
  lastAlertedAt: '2026-12-01T00:00:00.000Z',
  version: 3,
  ...overrides,
});

/** Rows by id; `remove` and `put` conditional on the version, like the DynamoDB table. */
function memoryStore(rows: AlertState[]): RemovableAlertStatePort & { rows: Map<string, AlertState>; calls: string[] } {
  const map = new Map(rows.map((r) => [r.findingId, r]));
  const calls: string[] = [];
  return {
    rows: map,
    calls,
    async get(ids) {
      return new Map(ids.flatMap((id) => (map.has(id) ? [[id, map.get(id)!] as const] : [])));
    },
    async put(next, previous) {
      calls.push(`put ${next.findingId}`);
      if ((map.get(next.findingId)?.version ?? 0) !== (previous?.version ?? 0)) return false;
      map.set(next.findingId, next);
      return true;
    },
    async failing() {
      return [...map.values()].filter((r) => r.status === 'FAIL');
    },
    async remove(s) {
      calls.push(`remove ${s.findingId}`);
      if (map.get(s.findingId)?.version !== s.version) return false;
      map.delete(s.findingId);
      return true;
    },
  };
}

function capturingLog(): LogPort & { lines: Array<[string, string, unknown]> } {
  const lines: Array<[string, string, unknown]> = [];
  const at = (level: string) => (message: string, extra?: unknown) => void lines.push([level, message, extra]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as LogPort & { lines: Array<[string, string, unknown]> };
}

describe('identifiers the configuration names', () => {
  it('takes strings under id, ids, name, names, arn and arns keys (any case, as a word ending), in first-seen order, once', () => {
    const config = {
      id: 'top-id',
      secrets: [{ name: 'cdn-to-gateway', secretName: 'origin-guard/cdn', senders: [{ type: 'cloudfront', distributionId: 'E2KEEP' }] }],
      ipRanges: { targets: [{ name: 'alb-kept', securityGroupIds: ['sg-0a', 'sg-0b'] }] },
      alerts: { topicArn: 'arn:aws:sns:eu-west-1:1:t', arns: ['arn:1'], names: ['n-1'], ID: 'UPPER', NAME: 'CAPS' },
      again: { name: 'cdn-to-gateway' },
    };
    expect(configuredIdentifiers(config)).toEqual(['top-id', 'cdn-to-gateway', 'origin-guard/cdn', 'E2KEEP', 'alb-kept', 'sg-0a', 'sg-0b', 'arn:aws:sns:eu-west-1:1:t', 'arn:1', 'n-1', 'UPPER', 'CAPS']);
  });

  it('skips other keys, keys that only contain the word, keys after a non-letter, short and non-string values', () => {
    const config = {
      region: 'eu-west-1',
      type: 'cloudfront',
      identity: 'not-an-id',
      names_list: ['nope'],
      x_id: 'underscore',
      '9name': 'digit',
      ids: ['ab', 'abc', 42, true, null],
      name: 12345,
      nested: null,
    };
    expect(configuredIdentifiers(config)).toEqual(['abc']);
    expect(configuredIdentifiers('a-lone-string')).toEqual([]);
    expect(configuredIdentifiers(['a-lone-string'])).toEqual([]);
    expect(configuredIdentifiers(null)).toEqual([]);
  });

  it('looks twelve levels deep, not thirteen', () => {
    const nest = (levels: number, leaf: unknown): unknown => (levels === 0 ? leaf : { level: nest(levels - 1, leaf) });
    // The string sits at depth 12: eleven wrapping objects and the one holding `name`.
    expect(configuredIdentifiers(nest(11, { name: 'deep-12' }))).toEqual(['deep-12']);
    expect(configuredIdentifiers(nest(12, { name: 'deep-13' }))).toEqual([]);
    // Arrays count as a level too.
    expect(configuredIdentifiers(nest(10, { names: ['in-array-12'] }))).toEqual(['in-array-12']);
    expect(configuredIdentifiers(nest(11, { names: ['in-array-13'] }))).toEqual([]);
  });
});

describe('failing states of removed items', () => {
  const gone = state('sg.open-ingress:sg-0gone', 'sg-0gone');

  it('keeps a state whose resource, or only whose finding id, mentions any configured identifier', () => {
    const byResource = state('cf.header-missing:dist', 'arn:aws:cloudfront::1:distribution/E2KEEP');
    const byIdOnly = state('kong.route:svc-kept/route', 'route-9');
    expect(removedItemStates([gone, byResource, byIdOnly], new Set(), ['other', 'E2KEEP', 'svc-kept'])).toEqual([gone]);
  });

  it('keeps a state the audit found again, even when nothing configured names it', () => {
    expect(removedItemStates([gone], new Set(['sg.open-ingress:sg-0gone']), [])).toEqual([]);
    expect(removedItemStates([gone], new Set(['sg.open-ingress:sg-0other']), [])).toEqual([gone]);
  });
});

describe('isRemovableAlertState', () => {
  it('needs both failing() and remove() as functions', () => {
    const base = { get: async () => new Map(), put: async () => true };
    expect(isRemovableAlertState({ ...base, failing: async () => [], remove: async () => true } as never)).toBe(true);
    expect(isRemovableAlertState(base)).toBe(false);
    expect(isRemovableAlertState({ ...base, failing: async () => [] } as never)).toBe(false);
    expect(isRemovableAlertState({ ...base, remove: async () => true } as never)).toBe(false);
    expect(isRemovableAlertState({ ...base, failing: [], remove: async () => true } as never)).toBe(false);
    expect(isRemovableAlertState({ ...base, failing: async () => [], remove: true } as never)).toBe(false);
  });
});

describe('resolving the alerts of removed items', () => {
  it('sends one RESOLVED per removed item, word for word, after removing its row; logs the finding id only', async () => {
    const withStart = state('sg.open-ingress:sg-0gone', 'sg-0gone', { severity: 'CRITICAL' });
    const noStart = state('secret.rotation-overdue:old', 'old', { failingSince: undefined });
    const kept = state('sg.open-ingress:sg-0kept', 'sg-0kept');
    const store = memoryStore([withStart, noStart, kept]);
    const published: AlertEvent[] = [];
    const log = capturingLog();

    const result = await resolveRemovedItems(store, { publish: async (e) => void published.push(e) }, new Set(), ['sg-0kept'], log);

    expect(result.errors).toEqual([]);
    expect(result.alerts).toEqual(published);
    // Strict: a row without a failure start gives details without the key, not with an undefined one.
    expect(published).toStrictEqual([
      {
        kind: 'RESOLVED',
        finding: {
          id: 'sg.open-ingress:sg-0gone',
          checkId: 'sg.open-ingress',
          severity: 'CRITICAL',
          status: 'PASS',
          resource: 'sg-0gone',
          message:
            'sg-0gone is no longer in the origin-guard configuration (or no longer exists): the last full audit did not find it, so its open alert is closed and its state removed',
          remediation: 'None: add the item to the configuration again to audit it.',
          details: { reason: 'removed from the configuration', failingSince: '2026-12-01T00:00:00.000Z' },
        },
      },
      {
        kind: 'RESOLVED',
        finding: {
          id: 'secret.rotation-overdue:old',
          checkId: 'secret.rotation-overdue',
          severity: 'HIGH',
          status: 'PASS',
          resource: 'old',
          message:
            'old is no longer in the origin-guard configuration (or no longer exists): the last full audit did not find it, so its open alert is closed and its state removed',
          remediation: 'None: add the item to the configuration again to audit it.',
          details: { reason: 'removed from the configuration' },
        },
      },
    ]);
    expect([...store.rows.keys()]).toEqual(['sg.open-ingress:sg-0kept']);
    expect(store.calls).toEqual(['remove sg.open-ingress:sg-0gone', 'remove secret.rotation-overdue:old']);
    expect(log.lines).toEqual([
      ['info', 'alert of a removed item resolved', { findingId: 'sg.open-ingress:sg-0gone' }],
      ['info', 'alert of a removed item resolved', { findingId: 'secret.rotation-overdue:old' }],
    ]);
  });

  it('sends nothing for a row another run changed or removed first, and goes on with the next', async () => {
    const raced = state('sg.open-ingress:sg-0raced', 'sg-0raced');
    const gone = state('sg.open-ingress:sg-0gone', 'sg-0gone');
    const store = memoryStore([raced, gone]);
    const remove = store.remove.bind(store);
    store.remove = async (s) => (s.findingId === raced.findingId ? false : remove(s));
    const published: AlertEvent[] = [];

    const result = await resolveRemovedItems(store, { publish: async (e) => void published.push(e) }, new Set(), [], silentLog);

    expect(result).toEqual({ alerts: published, errors: [] });
    expect(published.map((e) => e.finding.id)).toEqual([gone.findingId]);
    expect(store.rows.has(raced.findingId)).toBe(true);
  });

  it('reports a remove that fails and goes on with the next item', async () => {
    const broken = state('sg.open-ingress:sg-0broken', 'sg-0broken');
    const gone = state('sg.open-ingress:sg-0gone', 'sg-0gone');
    const store = memoryStore([broken, gone]);
    const remove = store.remove.bind(store);
    store.remove = async (s) => {
      if (s.findingId === broken.findingId) throw new Error('throttled');
      return remove(s);
    };
    const published: AlertEvent[] = [];

    const result = await resolveRemovedItems(store, { publish: async (e) => void published.push(e) }, new Set(), [], silentLog);

    expect(result.errors).toEqual(['sg.open-ingress:sg-0broken: removing the alert state failed: Error: throttled']);
    expect(published.map((e) => e.finding.id)).toEqual([gone.findingId]);
    expect(result.alerts).toEqual(published);
  });

  it('a failed publish writes the row back as it was, and a failed write-back is reported too', async () => {
    const first = state('sg.open-ingress:sg-0one', 'sg-0one');
    const second = state('sg.open-ingress:sg-0two', 'sg-0two');
    const store = memoryStore([first, second]);
    const put = store.put.bind(store);
    store.put = async (next, previous) => {
      if (next.findingId !== second.findingId) return put(next, previous);
      store.calls.push(`put ${next.findingId}`);
      throw new Error('table gone');
    };
    const down = {
      publish: async () => {
        throw new Error('SNS is down');
      },
    };
    const log = capturingLog();

    const result = await resolveRemovedItems(store, down, new Set(), [], log);

    expect(result).toEqual({
      alerts: [],
      errors: [
        'sg.open-ingress:sg-0one: publishing the RESOLVED alert failed: Error: SNS is down',
        'sg.open-ingress:sg-0two: publishing the RESOLVED alert failed: Error: SNS is down',
        'sg.open-ingress:sg-0two: putting the alert state back failed: Error: table gone',
      ],
    });
    expect(store.rows.get(first.findingId)).toEqual(first);
    expect(store.rows.has(second.findingId)).toBe(false);
    expect(store.calls).toEqual(['remove sg.open-ingress:sg-0one', 'put sg.open-ingress:sg-0one', 'remove sg.open-ingress:sg-0two', 'put sg.open-ingress:sg-0two']);
    expect(log.lines).toEqual([]);
  });
});
