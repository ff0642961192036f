/**
 * The alert state machine and subject rules at their edges (issue 15: mutation survivors in lambdas/core/alerts.ts):
 * observations exactly as old as the stored one or exactly the largest delay, a stored passing state that kept a
 * failure start, and runs of spaces in a subject.
 */
import { describe, expect, it } from 'vitest';
import { alertSubject, applyAlerts, decideAlert, failureFinding, formatAlert, MAX_OBSERVATION_DELAY_MS, type AlertState, type AlertStatePort } from '../../lambdas/core/alerts.ts';
import { silentLog, type AlertEvent, type Finding } from '../../lambdas/core/ports.ts';

const NOW = new Date('2025-06-01T03:00:00Z');

const finding = (status: Finding['status'], overrides: Partial<Finding> = {}): Finding => ({
  id: 'sg.broad-ingress:sg-1',
  checkId: 'sg.broad-ingress',
  severity: 'CRITICAL',
  status,
  resource: 'sg-1',
  message: status === 'FAIL' ? 'sg-1 admits 0.0.0.0/1' : 'sg-1 admits nothing broad',
  remediation: 'revoke',
  ...overrides,
});

const stored = (overrides: Partial<AlertState> = {}): AlertState => ({
  findingId: 'sg.broad-ingress:sg-1',
  status: 'FAIL',
  checkId: 'sg.broad-ingress',
  resource: 'sg-1',
  severity: 'CRITICAL',
  failingSince: '2025-05-31T00:00:00.000Z',
  lastAlertedAt: '2025-05-31T00:00:00.000Z',
  version: 2,
  ...overrides,
});

function memoryState(initial: AlertState[]): AlertStatePort & { items: Map<string, AlertState>; asked: string[][] } {
  const items = new Map(initial.map((s) => [s.findingId, s]));
  const asked: string[][] = [];
  return {
    items,
    asked,
    async get(ids) {
      asked.push(ids);
      return new Map(ids.flatMap((id) => (items.has(id) ? [[id, items.get(id)!] as const] : [])));
    },
    async put(next, previous) {
      if ((items.get(next.findingId)?.version ?? 0) !== (previous?.version ?? 0)) return false;
      items.set(next.findingId, next);
      return true;
    },
  };
}

describe('observations out of order, at the edges', () => {
  it('decides on an observation made at the same instant as the stored one (only a newer one stands)', () => {
    const previous = stored({ observedAt: NOW.toISOString() });
    expect(decideAlert(previous, finding('PASS'), NOW, 24, NOW).kind).toBe('RESOLVED');
  });

  it('ignores an observation exactly the largest delay older than the stored one, acts on one a millisecond older', () => {
    const previous = stored({ observedAt: NOW.toISOString() });
    const oldest = new Date(NOW.getTime() - MAX_OBSERVATION_DELAY_MS);
    expect(MAX_OBSERVATION_DELAY_MS).toBe(75 * 60 * 1000);
    expect(decideAlert(previous, finding('PASS'), NOW, 24, oldest)).toEqual({});
    expect(decideAlert(previous, finding('PASS'), NOW, 24, new Date(oldest.getTime() - 1)).kind).toBe('RESOLVED');
  });

  it('stores when the observation was made, not when it was decided', () => {
    const observedAt = new Date(NOW.getTime() - 60_000);
    const decision = decideAlert(undefined, finding('FAIL'), NOW, 24, observedAt);
    expect(decision.next).toEqual({
      findingId: 'sg.broad-ingress:sg-1',
      checkId: 'sg.broad-ingress',
      resource: 'sg-1',
      severity: 'CRITICAL',
      status: 'FAIL',
      failingSince: NOW.toISOString(),
      lastAlertedAt: NOW.toISOString(),
      observedAt: observedAt.toISOString(),
      version: 1,
    });
  });
});

describe('reminders', () => {
  it('an INCONCLUSIVE observation of a failing finding sends no reminder, even when one is due; a FAIL does', () => {
    const previous = stored({ lastAlertedAt: '2025-05-31T00:00:00.000Z' });
    expect(decideAlert(previous, finding('INCONCLUSIVE'), NOW, 24)).toEqual({});
    expect(decideAlert(previous, finding('FAIL'), NOW, 24).kind).toBe('REMINDER');
  });
});

describe('applying alerts, what the alert carries', () => {
  it('a NEW alert never carries a failure start left in a passing row; a RESOLVED one carries the stored start', async () => {
    const leftover = stored({ findingId: 'a', status: 'PASS', failingSince: '2025-01-01T00:00:00.000Z' });
    const failing = stored({ findingId: 'b' });
    const state = memoryState([leftover, failing]);
    const sent: AlertEvent[] = [];
    const result = await applyAlerts(
      [finding('FAIL', { id: 'a' }), finding('PASS', { id: 'b' }), finding('PASS', { id: 'c' })],
      { publisher: { publish: async (e) => void sent.push(e) }, state, reminderHours: 24 },
      NOW,
      silentLog,
    );
    expect(state.asked).toEqual([['a', 'b', 'c']]);
    expect(sent.map((e) => [e.kind, e.finding.id, e.finding.details])).toEqual([
      ['NEW', 'a', undefined],
      ['RESOLVED', 'b', { failingSince: '2025-05-31T00:00:00.000Z' }],
    ]);
    expect(result).toEqual({ alerts: sent, errors: [] });
    expect(state.items.has('c')).toBe(false);
  });

  it('keeps the details of a finding next to the failure start', async () => {
    const state = memoryState([stored()]);
    const sent: AlertEvent[] = [];
    await applyAlerts([finding('PASS', { details: { rules: 3 } })], { publisher: { publish: async (e) => void sent.push(e) }, state, reminderHours: 24 }, NOW, silentLog);
    expect(sent[0].finding).toEqual({ ...finding('PASS'), details: { rules: 3, failingSince: '2025-05-31T00:00:00.000Z' } });
  });
});

describe('subject spaces', () => {
  it('collapses any run of spaces to one', () => {
    const subject = alertSubject({ kind: 'NEW', finding: finding('FAIL', { message: 'a   b    c\t \td' }) });
    expect(subject).toBe('[CRITICAL] DRIFT sg.broad-ingress: a b c d');
  });
});

describe('failure start in the text, and failure findings', () => {
  it('shows the failure start in a REMINDER only when it is a string, and never in a NEW alert', () => {
    const numeric = formatAlert({ kind: 'REMINDER', finding: finding('FAIL', { details: { failingSince: 12345 } }) }, NOW).body;
    expect(numeric).not.toContain('Failing since');
    const fresh = formatAlert({ kind: 'NEW', finding: finding('FAIL', { details: { failingSince: '2025-05-31T00:00:00.000Z' } }) }, NOW).body;
    expect(fresh).not.toContain('Failing since');
    expect(fresh).toContain('\nDetected at:    2025-06-01T03:00:00.000Z\n');
  });

  it('a failure finding has a details key only when details were given', () => {
    const base = { checkId: 'reconcile.failed', resource: 'alb-sg', message: 'm', remediation: 'r' };
    expect(failureFinding(base)).toStrictEqual({ id: 'reconcile.failed:alb-sg', checkId: 'reconcile.failed', severity: 'HIGH', status: 'FAIL', resource: 'alb-sg', message: 'm', remediation: 'r' });
    expect(failureFinding({ ...base, severity: 'LOW', details: { step: 'apply' } })).toStrictEqual({
      id: 'reconcile.failed:alb-sg',
      checkId: 'reconcile.failed',
      severity: 'LOW',
      status: 'FAIL',
      resource: 'alb-sg',
      message: 'm',
      remediation: 'r',
      details: { step: 'apply' },
    });
  });
});
