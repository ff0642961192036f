/** Observations delivered out of order (racing audits, retried invocations) keep NEW → (quiet) → RESOLVED. */
import { describe, expect, it } from 'vitest';
import { applyAlerts, decideAlert, type AlertState, type AlertStatePort } from '../../lambdas/core/alerts.ts';
import { silentLog, type AlertEvent, type Finding } from '../../lambdas/core/ports.ts';

const finding = (status: Finding['status']): Finding => ({
  id: 'sg.broad-ingress:sg-1',
  checkId: 'sg.broad-ingress',
  severity: 'CRITICAL',
  status,
  resource: 'sg-1',
  message: status === 'FAIL' ? 'sg-1 admits 0.0.0.0/1' : 'sg-1 admits nothing broad',
  remediation: 'revoke',
});

function memoryState(): AlertStatePort {
  const items = new Map<string, AlertState>();
  return {
    async get(ids) {
      return new Map(ids.flatMap((id) => (items.has(id) ? [[id, items.get(id)!] as const] : [])));
    },
    async put(next, previous) {
      if ((items.get(next.findingId)?.version ?? 0) !== (previous?.version ?? 0)) return false;
      items.set(next.findingId, next);
      return true;
    },
  };
}

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute));

describe('alert state with out-of-order observations', () => {
  it('ignores a failing observation older than the one that resolved the finding', async () => {
    const state = memoryState();
    const sent: AlertEvent[] = [];
    const alerting = { publisher: { publish: async (e: AlertEvent) => void sent.push(e) }, state, reminderHours: 24 };
    // Observed at 1 (FAIL), 2 (FAIL), 3 (PASS); delivered 1, 3, 2.
    const deliveries: Array<[Finding['status'], number]> = [
      ['FAIL', 1],
      ['PASS', 3],
      ['FAIL', 2],
    ];

    for (const [status, minute] of deliveries) await applyAlerts([finding(status)], alerting, at(10), silentLog, at(minute));

    expect(sent.map((e) => e.kind)).toEqual(['NEW', 'RESOLVED']);
  });

  it('stays quiet when an older failing observation arrives after a newer one', () => {
    const newer: AlertState = {
      findingId: 'sg.broad-ingress:sg-1',
      status: 'FAIL',
      checkId: 'sg.broad-ingress',
      resource: 'sg-1',
      severity: 'CRITICAL',
      failingSince: at(2).toISOString(),
      lastAlertedAt: at(2).toISOString(),
      observedAt: at(2).toISOString(),
      version: 1,
    };

    expect(decideAlert(newer, finding('PASS'), at(10), 24, at(1))).toEqual({});
    expect(decideAlert(newer, finding('PASS'), at(10), 24, at(3)).kind).toBe('RESOLVED');
  });

  it('never resolves on an INCONCLUSIVE observation', () => {
    const failing: AlertState = {
      findingId: 'sg.broad-ingress:sg-1',
      status: 'FAIL',
      checkId: 'sg.broad-ingress',
      resource: 'sg-1',
      severity: 'CRITICAL',
      lastAlertedAt: at(1).toISOString(),
      version: 1,
    };

    expect(decideAlert(failing, finding('INCONCLUSIVE'), at(5), 24, at(5))).toEqual({});
  });
});

describe('alert state with a reset clock', () => {
  it('acts on an observation when the stored one lies beyond any possible delay (a clock was wrong)', () => {
    const farAhead: AlertState = {
      findingId: 'sg.broad-ingress:sg-1',
      status: 'FAIL',
      checkId: 'sg.broad-ingress',
      resource: 'sg-1',
      severity: 'CRITICAL',
      lastAlertedAt: new Date(Date.UTC(2026, 1, 10)).toISOString(),
      observedAt: new Date(Date.UTC(2026, 1, 10)).toISOString(),
      version: 1,
    };

    expect(decideAlert(farAhead, finding('PASS'), at(10), 24, at(10)).kind).toBe('RESOLVED');
  });
});
