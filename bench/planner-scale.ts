/**
 * Section 2: time of `planTarget` (desiredRules + normalizeObserved + planRuleChanges, exactly what reconcile
 * and the audit call) for 1k, 10k and 100k CIDRs spread over many security groups. Pure CPU, no I/O.
 */
import { performance } from 'node:perf_hooks';
import { IpRangeTargetSchema } from '../lambdas/config.ts';
import type { SourceRanges } from '../lambdas/core/ip-sources.ts';
import { planTarget, ruleDescription, type ObservedRule } from '../lambdas/core/range-planner.ts';
import { median, round } from './lib/instrument.ts';

export const PLANNER_SIZES = [1_000, 10_000, 100_000];
/** Owned rules per group in the steady state: 50 of the quota of 60, plus one unowned rule. */
const PER_GROUP = 50;
const CHURN = 0.01;
/** Enough warm-up for the JIT to settle on the small sizes (the first runs at 1k are 5-10× slower). */
const WARMUP_RUNS = 10;
const TIMED_RUNS = 9;

export type PlannerScenario = 'steady-1%-churn' | 'initial-empty';

export interface PlannerRow {
  cidrs: number;
  groups: number;
  scenario: PlannerScenario;
  observedRules: number;
  adds: number;
  removes: number;
  runsMs: number[];
  medianMs: number;
  /** Median time per desired CIDR, microseconds. */
  perCidrUs: number;
}

export interface PlannerResult {
  rows: PlannerRow[];
  /** Per-CIDR time at 100k over per-CIDR time at 1k (1 = perfectly linear), per scenario. */
  linearity: Record<string, number>;
}

/** 80% IPv4 /24s, 20% IPv6 /48s, all canonical and distinct. */
function cidr(i: number): string {
  if (i % 5 === 4) return `2600:${(0x1000 + (i >>> 12)).toString(16)}:${(0x1000 + (i & 0xfff)).toString(16)}::/48`;
  return `${10 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`;
}

function groupId(i: number): string {
  return `sg-${(i + 1).toString(16).padStart(17, '0')}`;
}

function scenario(n: number, kind: PlannerScenario) {
  const groups = Math.ceil(n / PER_GROUP) + 1;
  const groupIds = Array.from({ length: groups }, (_, i) => groupId(i));
  const target = IpRangeTargetSchema.parse({
    name: 'bench',
    securityGroupIds: groupIds,
    ports: [443],
    sources: [{ type: 'aws', services: ['CLOUDFRONT'], url: 'file:///dev/null' }],
  });
  const desired = Array.from({ length: n }, (_, i) => cidr(i));
  const sources: SourceRanges[] = [{ source: 'aws', label: 'aws', cidrs: desired }];
  const description = ruleDescription('bench', 'aws');
  const observed: ObservedRule[] = [];
  // One rule nobody owns in every group: it uses the quota and must never be touched.
  for (const [g, id] of groupIds.entries()) observed.push({ groupId: id, ruleId: `sgr-u${g}`, protocol: 'tcp', fromPort: 22, toPort: 22, cidr: `192.168.${g & 255}.0/24`, description: 'office ssh' });
  if (kind === 'steady-1%-churn') {
    // The previous version: the last 1% of today's CIDRs were not in it, and 1% of its CIDRs are gone today.
    const churn = Math.max(1, Math.round(n * CHURN));
    const previous = [...desired.slice(0, n - churn), ...Array.from({ length: churn }, (_, i) => cidr(n + 1_000_000 + i))];
    previous.forEach((c, k) => {
      observed.push({ groupId: groupIds[Math.floor(k / PER_GROUP)], ruleId: `sgr-${k}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr: c, description });
    });
  }
  return { target, sources, observed, groups };
}

export function runPlannerScale(log: (line: string) => void = () => {}): PlannerResult {
  const rows: PlannerRow[] = [];
  for (const kind of ['steady-1%-churn', 'initial-empty'] as const) {
    for (const n of PLANNER_SIZES) {
      const { target, sources, observed, groups } = scenario(n, kind);
      let plan = planTarget(target, sources, observed);
      for (let i = 1; i < WARMUP_RUNS; i++) plan = planTarget(target, sources, observed);
      const runsMs: number[] = [];
      for (let i = 0; i < TIMED_RUNS; i++) {
        const started = performance.now();
        plan = planTarget(target, sources, observed);
        runsMs.push(performance.now() - started);
      }
      if (plan.status !== 'changes') throw new Error(`planner scale: ${n} CIDRs (${kind}) planned "${plan.status}": ${plan.notes.join(' ')}`);
      const medianMs = median(runsMs);
      rows.push({
        cidrs: n,
        groups,
        scenario: kind,
        observedRules: observed.length,
        adds: plan.groups.reduce((s, g) => s + g.add.length, 0),
        removes: plan.groups.reduce((s, g) => s + g.remove.length, 0),
        runsMs: runsMs.map((ms) => round(ms, 2)),
        medianMs: round(medianMs, 2),
        perCidrUs: round((medianMs * 1000) / n, 3),
      });
      log(`planner: ${n} CIDRs over ${groups} groups (${kind}): median ${round(medianMs, 1)} ms`);
    }
  }
  const linearity: Record<string, number> = {};
  for (const kind of ['steady-1%-churn', 'initial-empty']) {
    const small = rows.find((r) => r.scenario === kind && r.cidrs === PLANNER_SIZES[0])!;
    const large = rows.find((r) => r.scenario === kind && r.cidrs === PLANNER_SIZES[PLANNER_SIZES.length - 1])!;
    linearity[kind] = round(large.perCidrUs / small.perCidrUs, 2);
  }
  return { rows, linearity };
}
