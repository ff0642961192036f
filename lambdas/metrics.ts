/**
 * Powertools Metrics for the handlers: what each run did, as EMF lines CloudWatch turns into metrics
 * (names in core/metric-names.ts). The record functions take a sink so that tests can read what was
 * recorded; handlers pass a Powertools `Metrics` and flush it once per invocation.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AuditResult } from './core/audit.ts';
import { METRIC, METRICS_NAMESPACE } from './core/metric-names.ts';
import type { RetireResult } from './core/rotation.ts';
import type { ReconcileResult } from './core/reconcile.ts';

export type MetricUnitName = (typeof MetricUnit)[keyof typeof MetricUnit];

/** What the record functions need of Powertools' `Metrics`. */
export interface MetricsSink {
  addMetric(name: string, unit: MetricUnitName, value: number): void;
}

export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}

export function recordAuditMetrics(sink: MetricsSink, result: Pick<AuditResult, 'findings' | 'alerts' | 'alertErrors'>): void {
  const failed = result.findings.filter((f) => f.status === 'FAIL');
  const bySeverity = (severity: string) => failed.filter((f) => f.severity === severity).length;
  sink.addMetric(METRIC.findingsFailed, MetricUnit.Count, failed.length);
  sink.addMetric(METRIC.findingsFailedCritical, MetricUnit.Count, bySeverity('CRITICAL'));
  sink.addMetric(METRIC.findingsFailedHigh, MetricUnit.Count, bySeverity('HIGH'));
  sink.addMetric(METRIC.findingsFailedMedium, MetricUnit.Count, bySeverity('MEDIUM'));
  sink.addMetric(METRIC.findingsFailedLow, MetricUnit.Count, bySeverity('LOW'));
  sink.addMetric(METRIC.alertsSent, MetricUnit.Count, result.alerts.length);
  sink.addMetric(METRIC.alertsNotSent, MetricUnit.Count, result.alertErrors.length);
}

export function recordReconcileMetrics(sink: MetricsSink, result: ReconcileResult): void {
  const applied = result.targets.filter((t) => t.applied);
  const count = (pick: (g: ReconcileResult['targets'][number]['groups'][number]) => number) =>
    applied.reduce((n, t) => n + t.groups.reduce((m, g) => m + pick(g), 0), 0);
  sink.addMetric(METRIC.rulesAdded, MetricUnit.Count, count((g) => g.add.length));
  sink.addMetric(METRIC.rulesRemoved, MetricUnit.Count, count((g) => g.remove.length));
  sink.addMetric(METRIC.targetsHeld, MetricUnit.Count, result.targets.filter((t) => t.held).length);
  sink.addMetric(METRIC.targetsFailed, MetricUnit.Count, result.targets.filter((t) => t.status === 'failed').length);
  sink.addMetric(METRIC.alertsNotSent, MetricUnit.Count, result.alertErrors?.length ?? 0);
}

/** One rotation step: its duration (testSecret includes the propagation waits), and whether it failed. */
export function recordRotationStep(sink: MetricsSink, step: string, durationMs: number, ok: boolean): void {
  sink.addMetric(METRIC.rotationStepDuration, MetricUnit.Milliseconds, durationMs);
  sink.addMetric(METRIC.rotationStepsFailed, MetricUnit.Count, ok ? 0 : 1);
  if (step === 'finishSecret' && ok) sink.addMetric(METRIC.rotationsCompleted, MetricUnit.Count, 1);
}

export function recordRetireMetrics(sink: MetricsSink, results: Record<string, RetireResult | { status: 'error' }>): void {
  const statuses = Object.values(results).map((r) => r.status);
  sink.addMetric(METRIC.overlapsClosed, MetricUnit.Count, statuses.filter((s) => s === 'retired').length);
  sink.addMetric(METRIC.overlapsWaiting, MetricUnit.Count, statuses.filter((s) => s === 'waiting').length);
  sink.addMetric(METRIC.retireFailed, MetricUnit.Count, statuses.filter((s) => s === 'error').length);
}
