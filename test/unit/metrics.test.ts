import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { METRIC, METRICS_NAMESPACE, METRIC_SERVICE } from '../../lambdas/core/metric-names.ts';
import type { Finding } from '../../lambdas/core/ports.ts';
import type { ReconcileResult, TargetResult } from '../../lambdas/core/reconcile.ts';
import { createMetrics, recordAuditMetrics, recordReconcileMetrics, recordRetireMetrics, recordRotationStep, type MetricsSink } from '../../lambdas/metrics.ts';

function recorder(): MetricsSink & { values: Record<string, number>; units: Record<string, string> } {
  const values: Record<string, number> = {};
  const units: Record<string, string> = {};
  return { values, units, addMetric: (name, unit, value) => void ((values[name] = value), (units[name] = unit)) };
}

const finding = (severity: Finding['severity'], status: Finding['status']): Finding => ({
  id: `c:${severity}:${status}:${Math.random()}`,
  checkId: 'c',
  severity,
  status,
  resource: 'r',
  message: 'm',
  remediation: 'f',
});

const target = (over: Partial<TargetResult>): TargetResult => ({
  name: 't',
  adopt: false,
  groups: [],
  held: false,
  status: 'changes',
  applied: true,
  dryRun: false,
  maxRulesPerGroup: 60,
  notes: [],
  writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 },
  findings: [],
  ...over,
});
const rule = { cidr: '203.0.113.0/24', protocol: 'tcp', fromPort: 443, toPort: 443 } as TargetResult['groups'][number]['add'][number];

describe('handler metrics', () => {
  it('audit: failed findings in all and by severity, alerts sent and not sent', () => {
    const sink = recorder();
    recordAuditMetrics(sink, {
      findings: [finding('CRITICAL', 'FAIL'), finding('HIGH', 'FAIL'), finding('HIGH', 'FAIL'), finding('LOW', 'PASS')],
      alerts: [{ kind: 'NEW', finding: finding('CRITICAL', 'FAIL') }],
      alertErrors: [],
    });
    expect(sink.values).toEqual({
      [METRIC.findingsFailed]: 3,
      [METRIC.findingsFailedCritical]: 1,
      [METRIC.findingsFailedHigh]: 2,
      [METRIC.findingsFailedMedium]: 0,
      [METRIC.findingsFailedLow]: 0,
      [METRIC.alertsSent]: 1,
      [METRIC.alertsNotSent]: 0,
    });
  });

  it('reconcile: rules added and removed only where applied; held and failed targets', () => {
    const sink = recorder();
    const result: ReconcileResult = {
      targets: [
        target({ groups: [{ groupId: 'sg-1', add: [rule, rule], remove: [rule], rulesAfter: 3, rulesBefore: 2 }] }),
        target({ applied: false, dryRun: true, groups: [{ groupId: 'sg-2', add: [rule], remove: [], rulesAfter: 1, rulesBefore: 0 }] }),
        target({ applied: false, held: true, status: 'held' }),
        target({ applied: false, status: 'failed', error: 'feed down' }),
      ],
    };
    recordReconcileMetrics(sink, result);
    expect(sink.values).toMatchObject({ RulesAdded: 2, RulesRemoved: 1, TargetsHeld: 1, TargetsFailed: 1 });
  });

  it('rotation and retire: step durations, failures, completed rotations and overlaps', () => {
    const sink = recorder();
    recordRotationStep(sink, 'finishSecret', 1234, true);
    expect(sink.values).toEqual({ RotationStepDuration: 1234, RotationStepsFailed: 0, RotationsCompleted: 1 });
    expect(sink.units.RotationStepDuration).toBe('Milliseconds');
    const failed = recorder();
    recordRotationStep(failed, 'testSecret', 90_000, false);
    expect(failed.values).toEqual({ RotationStepDuration: 90_000, RotationStepsFailed: 1 });
    const retire = recorder();
    recordRetireMetrics(retire, { a: { status: 'retired', reason: '' }, b: { status: 'waiting', reason: '' }, c: { status: 'error' } });
    expect(retire.values).toEqual({ OverlapsClosed: 1, OverlapsWaiting: 1, RetireFailed: 1 });
  });
});

describe('Powertools Metrics output', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (lines.push(String(chunk)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });

  it('flushes one EMF line in the OriginGuard namespace with the service dimension the dashboard reads', () => {
    const metrics = createMetrics(METRIC_SERVICE.audit);
    recordAuditMetrics(metrics, { findings: [finding('HIGH', 'FAIL')], alerts: [], alertErrors: [] });
    metrics.publishStoredMetrics();

    const emf = lines.map((l) => l.trim()).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(emf).toHaveLength(1);
    const [directive] = emf[0]._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions).toEqual([['service']]);
    expect(emf[0].service).toBe('origin-guard-audit');
    expect(emf[0].FindingsFailedHigh).toBe(1);
    expect(directive.Metrics.map((m: { Name: string }) => m.Name)).toContain('FindingsFailedCritical');
  });
});
