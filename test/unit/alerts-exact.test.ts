/**
 * Exact alert texts and state transitions (issue 15: mutation survivors in lambdas/core/alerts.ts). The wording of
 * every kind, the subject's character rules and cut, the JSON cap, reminders at their boundary, and the state
 * written back when publishing fails.
 */
import { describe, expect, it } from 'vitest';
import { alertSubject, applyAlerts, decideAlert, failureFinding, formatAlert, type AlertState, type AlertStatePort } from '../../lambdas/core/alerts.ts';
import { silentLog, type AlertEvent, type Finding, type LogPort } from '../../lambdas/core/ports.ts';

const NOW = new Date('2025-06-01T03:00:00Z');
const AT = new Date('2025-06-01T04:05:06Z');
const hoursLater = (h: number) => new Date(NOW.getTime() + h * 3_600_000);

function finding(status: 'PASS' | 'FAIL', overrides: Partial<Finding> = {}): Finding {
  return {
    id: 'waf.associated:alb-1',
    checkId: 'waf.associated',
    severity: 'HIGH',
    status,
    resource: 'alb-1',
    message: status === 'FAIL' ? 'gateway-acl is not associated with alb-1.' : 'gateway-acl is associated with alb-1.',
    remediation: 'aws wafv2 associate-web-acl --resource-arn alb-1',
    ...overrides,
  };
}

function state(overrides: Partial<AlertState> = {}): AlertState {
  return {
    findingId: 'waf.associated:alb-1',
    status: 'FAIL',
    checkId: 'waf.associated',
    resource: 'alb-1',
    severity: 'HIGH',
    failingSince: NOW.toISOString(),
    lastAlertedAt: NOW.toISOString(),
    version: 3,
    ...overrides,
  };
}

function memoryState(initial?: AlertState): AlertStatePort & { items: Map<string, AlertState>; writes: AlertState[] } {
  const items = new Map<string, AlertState>(initial ? [[initial.findingId, initial]] : []);
  const writes: AlertState[] = [];
  return {
    items,
    writes,
    async get(ids) {
      return new Map(ids.filter((id) => items.has(id)).map((id) => [id, items.get(id)!]));
    },
    async put(next, previous) {
      if ((items.get(next.findingId)?.version ?? 0) !== (previous?.version ?? 0)) return false;
      items.set(next.findingId, next);
      writes.push(next);
      return true;
    },
  };
}

describe('alert texts, word for word', () => {
  it('NEW: what is wrong, the check, the resource, the fix, when, and the promise of one more message', () => {
    const { subject, body } = formatAlert({ kind: 'NEW', finding: finding('FAIL') }, AT);
    expect(subject).toBe('[HIGH] DRIFT waf.associated: gateway-acl is not associated with alb-1');
    expect(body.split('\n').slice(0, 11)).toEqual([
      'origin-guard: Drift detected (HIGH)',
      '',
      'What is wrong:  gateway-acl is not associated with alb-1.',
      'Check:          waf.associated',
      'Resource:       alb-1',
      'How to fix:     aws wafv2 associate-web-acl --resource-arn alb-1',
      'Detected at:    2025-06-01T04:05:06.000Z',
      'Finding id:     waf.associated:alb-1',
      '',
      'You will get one more message when this check passes again.',
      '',
    ]);
    expect(body).toContain(`--- finding (JSON) ---\n${JSON.stringify(finding('FAIL'), null, 2)}`);
  });

  it('REMINDER: still failing, since when, and reminded again', () => {
    const event: AlertEvent = { kind: 'REMINDER', finding: finding('FAIL', { details: { failingSince: NOW.toISOString() } }) };
    const { subject, body } = formatAlert(event, AT);
    expect(subject).toBe('[HIGH] STILL FAILING waf.associated: gateway-acl is not associated with alb-1');
    expect(body.startsWith('origin-guard: Still failing: reminder (HIGH)\n')).toBe(true);
    expect(body).toContain('\nHow to fix:     aws wafv2 associate-web-acl --resource-arn alb-1\n');
    expect(body).toContain('\nFailing since:  2025-06-01T03:00:00.000Z\n');
    expect(body).toContain('\nDetected at:    2025-06-01T04:05:06.000Z\n');
    expect(body).toContain('\nThis finding is still failing; you will be reminded again unless it is fixed.\n');
  });

  it('RESOLVED: now, no fix, failing since, resolved at, and closing the earlier alert', () => {
    const event: AlertEvent = { kind: 'RESOLVED', finding: finding('PASS', { details: { failingSince: NOW.toISOString() } }) };
    const { subject, body } = formatAlert(event, AT);
    expect(subject).toBe('[HIGH] RESOLVED waf.associated: gateway-acl is associated with alb-1');
    expect(body.startsWith('origin-guard: Resolved: this check passes again (HIGH)\n')).toBe(true);
    expect(body).toContain('\nNow:            gateway-acl is associated with alb-1.\n');
    expect(body).not.toContain('How to fix');
    expect(body).not.toContain('What is wrong');
    expect(body).toContain('\nFailing since:  2025-06-01T03:00:00.000Z\n');
    expect(body).toContain('\nResolved at:    2025-06-01T04:05:06.000Z\n');
    expect(body).toContain('\nNo action needed. This closes the earlier alert for the same finding id.\n');
  });

  it('FAILURE: the fix, failed at, no failing since, and what to do next', () => {
    const event: AlertEvent = { kind: 'FAILURE', finding: finding('FAIL', { details: { failingSince: NOW.toISOString() } }) };
    const { subject, body } = formatAlert(event, AT);
    expect(subject).toBe('[HIGH] FAILURE waf.associated: gateway-acl is not associated with alb-1');
    expect(body.startsWith('origin-guard: Operation failed (HIGH)\n')).toBe(true);
    expect(body).toContain('\nHow to fix:     aws wafv2 associate-web-acl --resource-arn alb-1\n');
    expect(body).not.toContain('Failing since');
    expect(body).toContain('\nFailed at:      2025-06-01T04:05:06.000Z\n');
    expect(body).toContain('\nSee the message for what was put back or left unchanged; fix the cause, then retry.\n');
  });

  it('leaves out a field that has no value, and nothing else', () => {
    const full = formatAlert({ kind: 'NEW', finding: finding('FAIL') }, AT).body.split('\n');
    const { body } = formatAlert({ kind: 'NEW', finding: finding('FAIL', { remediation: '' }) }, AT);
    const withoutFix = full.filter((line) => !line.startsWith('How to fix:')).slice(0, 10);
    expect(body.split('\n').slice(0, 10)).toEqual(withoutFix);
  });

  it('RESOLVED lists exactly: now, check, resource, failing since, resolved at, finding id', () => {
    const event: AlertEvent = { kind: 'RESOLVED', finding: finding('PASS', { details: { failingSince: NOW.toISOString() } }) };
    expect(formatAlert(event, AT).body.split('\n').slice(0, 10)).toEqual([
      'origin-guard: Resolved: this check passes again (HIGH)',
      '',
      'Now:            gateway-acl is associated with alb-1.',
      'Check:          waf.associated',
      'Resource:       alb-1',
      'Failing since:  2025-06-01T03:00:00.000Z',
      'Resolved at:    2025-06-01T04:05:06.000Z',
      'Finding id:     waf.associated:alb-1',
      '',
      'No action needed. This closes the earlier alert for the same finding id.',
    ]);
  });

  it('keeps the details in a JSON of exactly the cap (100 000 characters), drops them one character over', () => {
    const sized = (n: number) => finding('FAIL', { details: { blob: 'x'.repeat(n) } });
    const base = JSON.stringify(sized(0), null, 2).length;
    const atCap = formatAlert({ kind: 'NEW', finding: sized(100_000 - base) }, AT).body;
    expect(atCap).not.toContain('"truncated": true');
    const over = formatAlert({ kind: 'NEW', finding: sized(100_001 - base) }, AT).body;
    expect(over).toContain('"truncated": true');
  });

  it('caps the finding JSON: details dropped when it is too long, kept when it fits', () => {
    const big = finding('FAIL', { details: { blob: 'x'.repeat(120_000) } });
    const { body } = formatAlert({ kind: 'NEW', finding: big }, AT);
    expect(body).toContain('"truncated": true');
    expect(body).not.toContain('x'.repeat(100));
    const small = finding('FAIL', { details: { note: 'kept' } });
    expect(formatAlert({ kind: 'NEW', finding: small }, AT).body).toContain('"note": "kept"');
  });
});

describe('alert subject characters and cut', () => {
  const subjectOf = (message: string) => alertSubject({ kind: 'NEW', finding: finding('FAIL', { message }) });

  it('replaces line breaks and tabs with one space, the ellipsis with three dots, other characters with ?', () => {
    expect(subjectOf('a\r\n\tb \u2026 c — d  e')).toBe('[HIGH] DRIFT waf.associated: a b ... c ? d e');
    expect(subjectOf('one\ntwo')).toBe('[HIGH] DRIFT waf.associated: one two');
  });

  it('trims spaces at either end', () => {
    expect(subjectOf('done \n')).toBe('[HIGH] DRIFT waf.associated: done');
  });

  it('drops one final full stop only', () => {
    expect(subjectOf('done.')).toBe('[HIGH] DRIFT waf.associated: done');
    expect(subjectOf('a.b')).toBe('[HIGH] DRIFT waf.associated: a.b');
  });

  it('keeps a subject of exactly the maximum, cuts a longer one at a word when that loses little, else mid-word', () => {
    const prefix = '[HIGH] DRIFT waf.associated: ';
    const exact = 'y'.repeat(99 - prefix.length);
    expect(subjectOf(exact)).toBe(prefix + exact);
    expect(subjectOf(`${exact}z`)).toBe(`${prefix}${exact.slice(0, exact.length - 3)}...`);

    const words = `${'w'.repeat(40)} ${'v'.repeat(20)} ${'u'.repeat(40)}`;
    expect(subjectOf(words)).toBe(`${prefix}${'w'.repeat(40)} ${'v'.repeat(20)}...`);
    const farFromEnd = `${'w'.repeat(40)} ${'u'.repeat(60)}`;
    expect(subjectOf(farFromEnd)).toBe(`${prefix}${'w'.repeat(40)} ${'u'.repeat(26)}...`);
    // The word cut is taken when the last space is at most 12 characters before the cut (96): at 84 yes, at 83 no.
    expect(subjectOf(`${'w'.repeat(55)} ${'u'.repeat(60)}`)).toBe(`${prefix}${'w'.repeat(55)}...`);
    expect(subjectOf(`${'w'.repeat(54)} ${'u'.repeat(60)}`)).toBe(`${prefix}${'w'.repeat(54)} ${'u'.repeat(12)}...`);
  });
});

describe('alert state machine at its edges', () => {
  it('reminds exactly when the reminder period has passed, not a millisecond before', () => {
    const previous = state();
    expect(decideAlert(previous, finding('FAIL'), new Date(hoursLater(24).getTime() - 1), 24)).toEqual({});
    expect(decideAlert(previous, finding('FAIL'), hoursLater(24), 24)).toMatchObject({ kind: 'REMINDER' });
  });

  it('reminds when the last alert time is unreadable, and takes the failure start from it when missing', () => {
    const unreadable = decideAlert(state({ lastAlertedAt: 'not a date' }), finding('FAIL'), NOW, 24);
    expect(unreadable.kind).toBe('REMINDER');
    const noStart = decideAlert(state({ failingSince: undefined }), finding('FAIL'), hoursLater(25), 24);
    expect(noStart.next).toEqual({ ...state({ failingSince: NOW.toISOString() }), lastAlertedAt: hoursLater(25).toISOString(), observedAt: hoursLater(25).toISOString(), version: 4 });
  });

  it('writes the next version, the finding\'s facts, and no failure start once resolved', () => {
    const resolved = decideAlert(state(), finding('PASS', { severity: 'CRITICAL' }), NOW, 24);
    expect(resolved).toEqual({
      kind: 'RESOLVED',
      next: { findingId: 'waf.associated:alb-1', status: 'PASS', checkId: 'waf.associated', resource: 'alb-1', severity: 'CRITICAL', lastAlertedAt: NOW.toISOString(), observedAt: NOW.toISOString(), version: 4 },
    });
    const fresh = decideAlert(undefined, finding('FAIL'), NOW, 24);
    expect(fresh.next).toMatchObject({ version: 1, failingSince: NOW.toISOString(), lastAlertedAt: NOW.toISOString(), status: 'FAIL' });
    expect(decideAlert(undefined, finding('PASS'), NOW, 24)).toEqual({});
    expect(decideAlert(state({ status: 'PASS', failingSince: undefined }), finding('PASS'), NOW, 24)).toEqual({});
    // A passing finding long after its resolution: no reminder for something that is fine.
    expect(decideAlert(state({ status: 'PASS', failingSince: undefined }), finding('PASS'), hoursLater(48), 24)).toEqual({});
  });

  it('makes failures HIGH unless told otherwise, with details only when given', () => {
    const base = { checkId: 'rotation.failed', resource: 'secret-1', message: 'm', remediation: 'r' };
    expect(failureFinding(base)).toEqual({ id: 'rotation.failed:secret-1', ...base, severity: 'HIGH', status: 'FAIL' });
    expect(failureFinding({ ...base, severity: 'CRITICAL', details: { step: 'finishSecret' } })).toMatchObject({ severity: 'CRITICAL', details: { step: 'finishSecret' } });
  });
});

function capturingLog(): LogPort & { lines: Array<[string, string, unknown]> } {
  const lines: Array<[string, string, unknown]> = [];
  return {
    lines,
    debug: (message, extra) => void lines.push(['debug', message, extra]),
    info: (message, extra) => void lines.push(['info', message, extra]),
    warn: (message, extra) => void lines.push(['warn', message, extra]),
    error: (message, extra) => void lines.push(['error', message, extra]),
  } as LogPort & { lines: Array<[string, string, unknown]> };
}

describe('applying alerts', () => {
  it('logs what it sent, what a concurrent run already sent, and a failed publish (never a value)', async () => {
    const log = capturingLog();
    const publisher = { publish: async () => {} };
    await applyAlerts([finding('FAIL')], { publisher, state: memoryState(), reminderHours: 24 }, NOW, log);
    const taken: AlertStatePort = { get: async () => new Map(), put: async () => false };
    await applyAlerts([finding('FAIL')], { publisher, state: taken, reminderHours: 24 }, NOW, log);
    const down = {
      publish: async () => {
        throw new Error('SNS is down');
      },
    };
    await applyAlerts([finding('FAIL')], { publisher: down, state: memoryState(), reminderHours: 24 }, NOW, log);
    expect(log.lines).toEqual([
      ['info', 'alert sent', { findingId: 'waf.associated:alb-1', kind: 'NEW', severity: 'HIGH' }],
      ['info', 'alert already sent by a concurrent audit', { findingId: 'waf.associated:alb-1', kind: 'NEW' }],
      ['error', 'alert publish failed; state put back for the next run', { findingId: 'waf.associated:alb-1', error: 'Error: SNS is down' }],
    ]);
  });

  it('a reminder carries the failure start; a new alert does not', async () => {
    const sent: AlertEvent[] = [];
    const publisher = { publish: async (e: AlertEvent) => void sent.push(e) };
    await applyAlerts([finding('FAIL')], { publisher, state: memoryState(state({ failingSince: '2025-05-30T00:00:00.000Z' })), reminderHours: 1 }, hoursLater(2), silentLog);
    await applyAlerts([finding('FAIL', { id: 'other' })], { publisher, state: memoryState(), reminderHours: 1 }, NOW, silentLog);
    expect(sent.map((e) => [e.kind, e.finding.details?.failingSince])).toEqual([
      ['REMINDER', '2025-05-30T00:00:00.000Z'],
      ['NEW', undefined],
    ]);
  });

  it('when publishing fails, writes the previous state back with a newer version (or a passing one when there was none)', async () => {
    const publisher = {
      publish: async () => {
        throw new Error('SNS is down');
      },
    };
    const known = memoryState(state({ failingSince: '2025-05-30T00:00:00.000Z', lastAlertedAt: '2025-05-30T00:00:00.000Z' }));
    const first = await applyAlerts([finding('PASS')], { publisher, state: known, reminderHours: 24 }, NOW, silentLog);
    expect(first).toEqual({ alerts: [], errors: ['waf.associated:alb-1: publishing the RESOLVED alert failed: Error: SNS is down'] });
    expect(known.writes.map((w) => [w.status, w.version])).toEqual([
      ['PASS', 4],
      ['FAIL', 5],
    ]);
    expect(known.items.get('waf.associated:alb-1')).toEqual(state({ failingSince: '2025-05-30T00:00:00.000Z', lastAlertedAt: '2025-05-30T00:00:00.000Z', version: 5 }));

    const unknown = memoryState();
    await applyAlerts([finding('FAIL')], { publisher, state: unknown, reminderHours: 24 }, NOW, silentLog);
    expect(unknown.items.get('waf.associated:alb-1')).toEqual({ ...state({ version: 2 }), status: 'PASS', failingSince: undefined, observedAt: NOW.toISOString() });
  });

  it('reports a state store that fails, and one that fails to put the state back', async () => {
    const broken: AlertStatePort = {
      get: async () => new Map(),
      put: async () => {
        throw new Error('table gone');
      },
    };
    const publisher = { publish: async () => {} };
    expect(await applyAlerts([finding('FAIL')], { publisher, state: broken, reminderHours: 24 }, NOW, silentLog)).toEqual({
      alerts: [],
      errors: ['waf.associated:alb-1: storing the alert state failed: Error: table gone'],
    });

    let puts = 0;
    const flaky: AlertStatePort = {
      get: async () => new Map(),
      put: async () => {
        puts += 1;
        if (puts > 1) throw new Error('throttled');
        return true;
      },
    };
    const failing = {
      publish: async () => {
        throw new Error('SNS is down');
      },
    };
    const result = await applyAlerts([finding('FAIL')], { publisher: failing, state: flaky, reminderHours: 24 }, NOW, silentLog);
    expect(result.errors).toEqual(['waf.associated:alb-1: publishing the NEW alert failed: Error: SNS is down', 'waf.associated:alb-1: putting the alert state back failed: Error: throttled']);
  });
});
