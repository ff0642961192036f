/**
 * The one audit, shared by the Lambda and the CLI: observe what is configured (through a port), run every
 * check, then alert through the state machine: once when a finding first fails, once when it is resolved,
 * and a reminder while it stays failed.
 */
import { applyAlerts, isRemovableAlertState, resolveRemovedItems, type AlertingDeps } from './alerts.ts';
import { describeError } from './errors.ts';
import type { AuditCheck, ObservedAccount } from './audit-model.ts';
import type { AuditScope } from './audit-scope.ts';
import { ALL_CHECKS, runChecks } from './checks/index.ts';
import type { AlertEvent, Clock, Finding, LogPort, Severity } from './ports.ts';

// Reconcile alerts through the same state machine; kept importable from here for the audit's callers.
export { applyAlerts, type AlertingDeps } from './alerts.ts';

/** Reads the observed state of what is configured, limited to `scope` when given. */
export interface AuditObserverPort {
  observe(scope?: AuditScope): Promise<ObservedAccount>;
}

export interface AuditDeps {
  observer: AuditObserverPort;
  clock: Clock;
  log: LogPort;
  checks?: readonly AuditCheck[];
  /** Without it the audit only reports (the CLI without --alert). */
  alerting?: AlertingDeps;
  /**
   * The identifiers the configuration names (`configuredIdentifiers`): with them, a full audit also resolves the
   * open alerts of items removed from the configuration and removes their state (when the state store can).
   */
  resolveRemoved?: { configured: readonly string[] };
}

export interface AuditResult {
  /** Failed first, most severe first, then by id. */
  findings: Finding[];
  /** Alerts actually published. */
  alerts: AlertEvent[];
  /** Alerts that could not be published (their state was put back, so the next run retries them). */
  alertErrors: string[];
  /** What the checks ran on (the posture page draws it). */
  observed?: ObservedAccount;
}

const STATUS_ORDER: Record<Finding['status'], number> = { FAIL: 0, INCONCLUSIVE: 1, PASS: 2 };
const SEVERITY_ORDER: Record<Severity, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      a.id.localeCompare(b.id),
  );
}

/** Whether the run should exit non-zero: a HIGH or CRITICAL check failed. */
export function hasBlockingFailure(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.status === 'FAIL' && (f.severity === 'HIGH' || f.severity === 'CRITICAL'));
}

export async function runAudit(deps: AuditDeps, scope?: AuditScope): Promise<AuditResult> {
  // When the observation started: the alert state ignores an observation older than one it already acted on.
  const observedAt = deps.clock.now();
  const observed = await deps.observer.observe(scope);
  const now = deps.clock.now();
  const findings = sortFindings(runChecks(observed, now, deps.checks ?? ALL_CHECKS));
  const failed = findings.filter((f) => f.status === 'FAIL');
  deps.log.info('audit checked', { findings: findings.length, failed: failed.length, failedIds: failed.map((f) => f.id), scope: scope?.cause });
  if (!deps.alerting) return { findings, alerts: [], alertErrors: [], observed };
  const { alerts, errors } = await applyAlerts(findings, deps.alerting, now, deps.log, observedAt);
  if (scope === undefined && deps.resolveRemoved && isRemovableAlertState(deps.alerting.state)) {
    const removed = await resolveRemovedItems(deps.alerting.state, deps.alerting.publisher, new Set(findings.map((f) => f.id)), deps.resolveRemoved.configured, deps.log).catch(
      (error: unknown) => ({ alerts: [] as AlertEvent[], errors: [`resolving alerts of removed items failed: ${describeError(error)}`] }),
    );
    alerts.push(...removed.alerts);
    errors.push(...removed.errors);
  }
  return { findings, alerts, alertErrors: errors, observed };
}
