import { describe, expect, it } from 'vitest';
import { configuredIdentifiers, removedItemStates, type AlertState } from '../../lambdas/core/alerts.ts';
import { runAudit } from '../../lambdas/core/audit.ts';
import type { AlertEvent } from '../../lambdas/core/ports.ts';
import { exampleConfig } from '../cdk/support.ts';

const state = (findingId: string, resource: string, status: 'FAIL' | 'PASS' = 'FAIL'): AlertState => ({
  findingId,
  status,
  checkId: findingId.split(':')[0],
  resource,
  severity: 'HIGH',
  lastAlertedAt: '2026-12-01T00:00:00.000Z',
  version: 3,
});

describe('alerts of items removed from the configuration (pure core)', () => {
  it('collects the identifiers the example config names, not its types, regions or URLs', () => {
    const ids = configuredIdentifiers(exampleConfig());
    expect(ids).toEqual(expect.arrayContaining(['origin-guard/cdn-to-gateway', 'origin-guard/gateway-to-upstream', 'konnect/token']));
    expect(ids).not.toContain('eu-west-1');
    expect(ids).not.toContain('cloudfront');
    expect(ids.some((id) => id.startsWith('https://'))).toBe(false);
  });

  it('picks a failing state only when the full audit did not find it and it names nothing configured', () => {
    const removed = state('sg.open-ingress:sg-0gone', 'sg-0gone');
    const configured = state('sg.open-ingress:sg-0kept', 'sg-0kept');
    const found = state('bypass.public-alb:alb-x', 'alb-x');
    const picked = removedItemStates([removed, configured, found], new Set([found.findingId]), ['sg-0kept']);
    expect(picked).toEqual([removed]);
    expect(removedItemStates([removed], new Set(), ['sg-0gone'])).toEqual([]);
  });

  it('runAudit resolves removed items only on a full audit, and only with resolveRemoved set', async () => {
    const rows = new Map<string, AlertState>([['sg.open-ingress:sg-0gone', state('sg.open-ingress:sg-0gone', 'sg-0gone')]]);
    const published: AlertEvent[] = [];
    const store = {
      get: async (ids: string[]) => new Map(ids.flatMap((id) => (rows.has(id) ? [[id, rows.get(id)!] as const] : []))),
      put: async (next: AlertState) => (rows.set(next.findingId, next), true),
      failing: async () => [...rows.values()].filter((r) => r.status === 'FAIL'),
      remove: async (s: AlertState) => rows.delete(s.findingId),
    };
    const deps = {
      observer: { observe: async () => ({}) as any },
      clock: { now: () => new Date('2026-12-03T00:00:00Z') },
      log: { debug() {}, info() {}, warn() {}, error() {} } as any,
      checks: [],
      alerting: { publisher: { publish: async (e: AlertEvent) => void published.push(e) }, state: store, reminderHours: 0 },
    };
    await runAudit(deps as any, { identifiers: ['sg-0gone'], cause: 'ec2:RevokeSecurityGroupIngress' } as any);
    await runAudit(deps as any);
    expect(published).toEqual([]);
    expect(rows.size).toBe(1);
    const result = await runAudit({ ...deps, resolveRemoved: { configured: ['sg-0kept'] } } as any);
    expect(result.alerts.map((a) => [a.kind, a.finding.id])).toEqual([['RESOLVED', 'sg.open-ingress:sg-0gone']]);
    expect(rows.size).toBe(0);
  });
});
