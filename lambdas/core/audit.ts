/**
 * The one audit, shared by the Lambda and the CLI: observe what is configured (through a port), run every
 * check, then alert through the state machine: once when a finding first fails, once when it is resolved,
 * and a reminder while it stays failed.
 */
import { decideAlert, type AlertState, type AlertStatePort } from './alerts.ts';
import type { AuditCheck, ObservedAccount } from './audit-model.ts';
import type { AuditScope } from './audit-scope.ts';
import { ALL_CHECKS, runChecks } from './checks/index.ts';
import { describeError } from './errors.ts';
import type { AlertEvent, AlertPort, Clock, Finding, LogPort, Severity } from './ports.ts';

/** Reads the observed state of what is configured, limited to `scope` when given. */
export interface AuditObserverPort {
  observe(scope?: AuditScope): Promise<ObservedAccount>;
}

export interface AlertingDeps {
  publisher: AlertPort;
  state: AlertStatePort;
  /** 0 disables reminders. */
  reminderHours: number;
}

export interface AuditDeps {
  observer: AuditObserverPort;
  clock: Clock;
  log: LogPort;
  checks?: readonly AuditCheck[];
  /** Without it the audit only reports (the CLI without --alert). */
  alerting?: AlertingDeps;
}

export interface AuditResult {
  /** Failed first, most severe first, then by id. */
  findings: Finding[];
  /** Alerts actually published. */
  alerts: AlertEvent[];
  /** Alerts that could not be published (their state was put back, so the next run retries them). */
  alertErrors: string[];
}

const SEVERITY_ORDER: Record<Severity, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      (a.status === b.status ? 0 : a.status === 'FAIL' ? -1 : 1) ||
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      a.id.localeCompare(b.id),
  );
}

/** Whether the run should exit non-zero: a HIGH or CRITICAL check failed. */
export function hasBlockingFailure(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.status === 'FAIL' && (f.severity === 'HIGH' || f.severity === 'CRITICAL'));
}

export async function runAudit(deps: AuditDeps, scope?: AuditScope): Promise<AuditResult> {
  const observed = await deps.observer.observe(scope);
  const now = deps.clock.now();
  const findings = sortFindings(runChecks(observed, now, deps.checks ?? ALL_CHECKS));
  const failed = findings.filter((f) => f.status === 'FAIL');
  deps.log.info('audit checked', { findings: findings.length, failed: failed.length, failedIds: failed.map((f) => f.id), scope: scope?.cause });
  if (!deps.alerting) return { findings, alerts: [], alertErrors: [] };
  const { alerts, errors } = await applyAlerts(findings, deps.alerting, now, deps.log);
  return { findings, alerts, alertErrors: errors };
}

/**
 * Alerts for each finding whose state changed. The state is claimed before publishing (a conditional write),
 * so two audits running at once alert once; a failed publish puts the state back for the next run.
 */
export async function applyAlerts(
  findings: readonly Finding[],
  alerting: AlertingDeps,
  now: Date,
  log: LogPort,
): Promise<{ alerts: AlertEvent[]; errors: string[] }> {
  const stored = await alerting.state.get(findings.map((f) => f.id));
  const alerts: AlertEvent[] = [];
  const errors: string[] = [];
  for (const finding of findings) {
    const previous = stored.get(finding.id);
    const decision = decideAlert(previous, finding, now, alerting.reminderHours);
    if (!decision.kind || !decision.next) continue;
    const failingSince = decision.kind === 'NEW' ? undefined : previous?.failingSince;
    const event: AlertEvent = {
      kind: decision.kind,
      finding: failingSince ? { ...finding, details: { ...finding.details, failingSince } } : finding,
    };
    try {
      const claimed = await alerting.state.put(decision.next, previous);
      if (!claimed) {
        log.info('alert already sent by a concurrent audit', { findingId: finding.id, kind: decision.kind });
        continue;
      }
    } catch (error) {
      errors.push(`${finding.id}: storing the alert state failed: ${describeError(error)}`);
      continue;
    }
    try {
      await alerting.publisher.publish(event);
      alerts.push(event);
      log.info('alert sent', { findingId: finding.id, kind: decision.kind, severity: finding.severity });
    } catch (error) {
      errors.push(`${finding.id}: publishing the ${decision.kind} alert failed: ${describeError(error)}`);
      log.error('alert publish failed; state put back for the next run', { findingId: finding.id, error: describeError(error) });
      await restoreState(alerting.state, previous, decision.next).catch((restoreError: unknown) =>
        errors.push(`${finding.id}: putting the alert state back failed: ${describeError(restoreError)}`),
      );
    }
  }
  return { alerts, errors };
}

async function restoreState(state: AlertStatePort, previous: AlertState | undefined, written: AlertState): Promise<void> {
  // Writing the old record back (with a newer version) makes the next run decide the same alert again.
  const restored = previous
    ? { ...previous, version: written.version + 1 }
    : { ...written, status: 'PASS' as const, failingSince: undefined, version: written.version + 1 };
  await state.put(restored, written);
}
