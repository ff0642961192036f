import { describe, expect, it } from 'vitest';
import { alertSubject, decideAlert, failureFinding, formatAlert, MAX_SUBJECT_LENGTH, type AlertState, type AlertStatePort } from '../../lambdas/core/alerts.ts';
import { emptyObservedAccount } from '../../lambdas/core/audit-model.ts';
import { applyAlerts, hasBlockingFailure, runAudit, sortFindings } from '../../lambdas/core/audit.ts';
import { cloudFrontOriginSecret } from '../../lambdas/core/checks/index.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { silentLog, type AlertEvent, type Finding } from '../../lambdas/core/ports.ts';

const NOW = new Date('2025-06-01T03:00:00Z');
const hoursLater = (h: number) => new Date(NOW.getTime() + h * 3_600_000);
const ALB = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/gateway-alb/50dc6c495c0c9188';

function finding(status: 'PASS' | 'FAIL', overrides: Partial<Finding> = {}): Finding {
  return {
    id: `waf.associated:${ALB}`,
    checkId: 'waf.associated',
    severity: 'HIGH',
    status,
    resource: ALB,
    message: status === 'FAIL' ? 'gateway-acl is not associated with app/gateway-alb/50dc6c495c0c9188: it has no web ACL at all.' : 'gateway-acl is associated with app/gateway-alb/50dc6c495c0c9188.',
    remediation: `aws wafv2 associate-web-acl --web-acl-arn arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/gateway-acl/a1 --resource-arn ${ALB}`,
    ...overrides,
  };
}

function failingState(lastAlertedAt: Date): AlertState {
  return {
    findingId: `waf.associated:${ALB}`,
    status: 'FAIL',
    checkId: 'waf.associated',
    resource: ALB,
    severity: 'HIGH',
    failingSince: lastAlertedAt.toISOString(),
    lastAlertedAt: lastAlertedAt.toISOString(),
    version: 1,
  };
}

describe('alert state machine', () => {
  it('alerts NEW when a finding first fails', () => {
    const decision = decideAlert(undefined, finding('FAIL'), NOW, 24);

    expect(decision.kind).toBe('NEW');
    expect(decision.next).toMatchObject({ status: 'FAIL', failingSince: NOW.toISOString(), version: 1 });
  });

  it('stays silent while a finding keeps failing', () => {
    expect(decideAlert(failingState(NOW), finding('FAIL'), hoursLater(23), 24)).toEqual({});
  });

  it('reminds once the reminder period has passed, keeping when the failure began', () => {
    const decision = decideAlert(failingState(NOW), finding('FAIL'), hoursLater(24), 24);

    expect(decision.kind).toBe('REMINDER');
    expect(decision.next).toMatchObject({ failingSince: NOW.toISOString(), lastAlertedAt: hoursLater(24).toISOString(), version: 2 });
  });

  it('never reminds when reminders are off', () => {
    expect(decideAlert(failingState(NOW), finding('FAIL'), hoursLater(1000), 0)).toEqual({});
  });

  it('alerts RESOLVED when a failing finding passes again', () => {
    const decision = decideAlert(failingState(NOW), finding('PASS'), hoursLater(1), 24);

    expect(decision.kind).toBe('RESOLVED');
    expect(decision.next).toMatchObject({ status: 'PASS', version: 2 });
    expect(decision.next?.failingSince).toBeUndefined();
  });

  it('stays silent for a passing finding never seen failing, and does not store it', () => {
    expect(decideAlert(undefined, finding('PASS'), NOW, 24)).toEqual({});
  });

  it('alerts NEW again when a resolved finding fails again', () => {
    const resolved = { ...failingState(NOW), status: 'PASS' as const, failingSince: undefined, version: 2 };

    expect(decideAlert(resolved, finding('FAIL'), hoursLater(2), 24).kind).toBe('NEW');
  });
});

describe('alert message', () => {
  it('puts the severity first and keeps the subject under 100 characters', () => {
    const subject = alertSubject({ kind: 'NEW', finding: finding('FAIL') });

    expect(subject.startsWith('[HIGH] DRIFT waf.associated: gateway-acl is not associated with app/gateway-alb/')).toBe(true);
    expect(subject.length).toBeLessThanOrEqual(MAX_SUBJECT_LENGTH);
    expect(subject.length).toBeLessThan(100);
  });

  it('keeps any subject under 100 printable ASCII characters without line breaks', () => {
    const long = finding('FAIL', { message: `Line one\nline two — ${'x'.repeat(300)} …`, checkId: 'c'.repeat(120) });

    for (const kind of ['NEW', 'RESOLVED', 'REMINDER', 'FAILURE'] as const) {
      const subject = alertSubject({ kind, finding: long });
      expect(subject.length).toBeLessThan(100);
      expect(subject).toMatch(/^\[HIGH\] [\x20-\x7e]+$/);
    }
  });

  it('names the check, the resource, what is wrong and the fix, with the finding as JSON', () => {
    const { body } = formatAlert({ kind: 'NEW', finding: finding('FAIL') }, NOW);

    expect(body).toContain('Drift detected (HIGH)');
    expect(body).toMatch(/^Check: +waf\.associated$/m);
    expect(body).toContain(`Resource:       ${ALB}`);
    expect(body).toMatch(/^What is wrong: +gateway-acl is not associated/m);
    expect(body).toMatch(/^How to fix: +aws wafv2 associate-web-acl/m);
    const json = JSON.parse(body.slice(body.indexOf('--- finding (JSON) ---') + '--- finding (JSON) ---'.length));
    expect(json).toMatchObject({ id: `waf.associated:${ALB}`, status: 'FAIL', severity: 'HIGH' });
  });

  it('words a resolution as one, naming the check, the resource and since when it failed', () => {
    const resolved = finding('PASS', { details: { failingSince: NOW.toISOString() } });

    const { subject, body } = formatAlert({ kind: 'RESOLVED', finding: resolved }, hoursLater(1));

    expect(subject).toMatch(/^\[HIGH\] RESOLVED waf\.associated: gateway-acl is associated/);
    expect(body).toContain('Resolved: this check passes again');
    expect(body).toContain(`Resource:       ${ALB}`);
    expect(body).toContain(`Failing since:  ${NOW.toISOString()}`);
    expect(body).not.toContain('How to fix');
  });

  it('formats rotation and reconcile failures the same way', () => {
    const failure = failureFinding({
      checkId: 'rotation.failed',
      resource: 'cdn-to-gateway',
      message: 'setSecret failed on wafv2:REGIONAL/gateway-acl/origin-verify; validators were put back.',
      remediation: 'Fix the web ACL permissions, then run origin-guard rotate --secret cdn-to-gateway.',
    });

    const { subject, body } = formatAlert({ kind: 'FAILURE', finding: failure }, NOW);

    expect(failure.id).toBe('rotation.failed:cdn-to-gateway');
    expect(subject).toMatch(/^\[HIGH\] FAILURE rotation\.failed: setSecret failed/);
    expect(body).toContain('Operation failed (HIGH)');
    expect(body).toContain('Resource:       cdn-to-gateway');
  });

  it('never carries a secret value: the checks only ever see fingerprints', () => {
    const secretValue = 'Zx9-very-secret-origin-verify-value-123';
    const observed = emptyObservedAccount();
    observed.secrets.push({
      name: 'cdn-to-gateway',
      secretName: 'origin-verify',
      headerName: 'X-Origin-Verify',
      rotationDays: 30,
      overlapMinutes: 30,
      description: { arn: 'arn', name: 'origin-verify', versions: [{ versionId: 'v1', stages: ['AWSCURRENT'] }], tags: {}, rotationEnabled: true },
      fingerprints: { v1: fingerprint(secretValue) },
    });
    observed.distributions.push({
      id: 'E2EXAMPLE',
      listed: false,
      senders: [{ secret: 'cdn-to-gateway', headerName: 'X-Origin-Verify' }],
      distribution: {
        webAclId: '',
        origins: [{ id: 'alb', domainName: 'alb', headerFingerprints: { 'x-origin-verify': fingerprint('stale-value') } }],
        behaviors: [],
      },
    });
    const [drift] = cloudFrontOriginSecret.run(observed, NOW);

    const { subject, body } = formatAlert({ kind: 'NEW', finding: drift }, NOW);

    expect(drift.status).toBe('FAIL');
    expect(`${subject}\n${body}`).not.toContain(secretValue);
    expect(body).toContain(fingerprint(secretValue));
  });
});

/** An in-memory state port with the same conditional semantics as the DynamoDB one. */
function memoryState(): AlertStatePort & { items: Map<string, AlertState> } {
  const items = new Map<string, AlertState>();
  return {
    items,
    async get(ids) {
      return new Map(ids.filter((id) => items.has(id)).map((id) => [id, items.get(id)!]));
    },
    async put(next, previous) {
      if ((items.get(next.findingId)?.version ?? 0) !== (previous?.version ?? 0)) return false;
      items.set(next.findingId, next);
      return true;
    },
  };
}

describe('audit alerting', () => {
  it('alerts once for a drift, not again on the next run, and once when it is resolved', async () => {
    const state = memoryState();
    const sent: AlertEvent[] = [];
    const alerting = { publisher: { publish: async (e: AlertEvent) => void sent.push(e) }, state, reminderHours: 24 };

    await applyAlerts([finding('FAIL')], alerting, NOW, silentLog);
    await applyAlerts([finding('FAIL')], alerting, hoursLater(1), silentLog);
    await applyAlerts([finding('PASS')], alerting, hoursLater(2), silentLog);

    expect(sent.map((e) => e.kind)).toEqual(['NEW', 'RESOLVED']);
    expect(sent[1].finding.details?.failingSince).toBe(NOW.toISOString());
  });

  it('puts the state back when publishing fails, so the next run alerts', async () => {
    const state = memoryState();
    let fail = true;
    const sent: AlertEvent[] = [];
    const publisher = {
      publish: async (e: AlertEvent) => {
        if (fail) throw new Error('SNS is down');
        sent.push(e);
      },
    };

    const first = await applyAlerts([finding('FAIL')], { publisher, state, reminderHours: 24 }, NOW, silentLog);
    fail = false;
    await applyAlerts([finding('FAIL')], { publisher, state, reminderHours: 24 }, hoursLater(1), silentLog);

    expect(first.errors[0]).toContain('SNS is down');
    expect(sent.map((e) => e.kind)).toEqual(['NEW']);
  });

  it('lets only one of two concurrent audits send the alert', async () => {
    const state = memoryState();
    const sent: AlertEvent[] = [];
    const alerting = { publisher: { publish: async (e: AlertEvent) => void sent.push(e) }, state, reminderHours: 24 };

    await Promise.all([applyAlerts([finding('FAIL')], alerting, NOW, silentLog), applyAlerts([finding('FAIL')], alerting, NOW, silentLog)]);

    expect(sent).toHaveLength(1);
  });

  it('sorts failed findings first, most severe first, and blocks on HIGH or CRITICAL only', async () => {
    const medium = finding('FAIL', { id: 'a', severity: 'MEDIUM' });
    const high = finding('FAIL', { id: 'b' });
    const pass = finding('PASS', { id: 'c', severity: 'CRITICAL' });

    expect(sortFindings([pass, medium, high]).map((f) => f.id)).toEqual(['b', 'a', 'c']);
    expect(hasBlockingFailure([medium, pass])).toBe(false);
    expect(hasBlockingFailure([medium, high])).toBe(true);
  });

  it('runs the checks on what the observer saw', async () => {
    const observed = emptyObservedAccount();
    observed.peerings.push({ config: { id: 'pcx-0a1b2c3d', routeTableIds: [], allowedCidrs: [] }, state: 'deleted', routeTables: [] });

    const result = await runAudit({ observer: { observe: async () => observed }, clock: { now: () => NOW, sleep: async () => {} }, log: silentLog });

    expect(result.findings.map((f) => [f.id, f.status])).toEqual([['peering.active:pcx-0a1b2c3d', 'FAIL']]);
  });
});
