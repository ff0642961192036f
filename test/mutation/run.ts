/**
 * `npm run mutation`: Stryker on the pure core (`lambdas/core/`, unit tests: stryker.config.json) and then on the
 * five adapters that write to targets (their integration tests against moto_server: stryker.adapters.json), then
 * one table of scores per file from both JSON reports, the wall time of each part, and the goal of issue 15:
 * at least 85 % of mutants killed in each of the five files below. Exits non-zero when a part fails or a goal file
 * is under its goal.
 *
 *   npm run mutation                    # both parts, incremental (reruns re-test only what changed)
 *   npm run mutation -- --force         # both parts from scratch
 *   npm run mutation -- --part core     # one part (core | adapters); other arguments go to Stryker
 *   npm run mutation -- --report-only   # the table from the last reports, no run
 *   npm run mutation -- --report-only --survivors   # and every mutant of the goal files not killed, to classify
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { calculateMetrics, type Metrics } from 'mutation-testing-metrics';
import type { MutationTestResult } from 'mutation-testing-report-schema';

const parts = {
  core: { config: 'stryker.config.json', report: 'reports/mutation/core.json' },
  adapters: { config: 'stryker.adapters.json', report: 'reports/mutation/adapters.json' },
} as const;
type Part = keyof typeof parts;

/** Issue 15: at least 85 % of mutants killed in each of these. */
export const GOAL = 85;
export const GOAL_FILES = [
  'lambdas/core/rotation.ts',
  'lambdas/core/rotation-state.ts',
  'lambdas/core/range-planner.ts',
  'lambdas/core/reconcile.ts',
  'lambdas/core/alerts.ts',
];

function parseArgs(argv: string[]): { only?: Part; reportOnly: boolean; survivors: boolean; strykerArgs: string[] } {
  const strykerArgs: string[] = [];
  let only: Part | undefined;
  let reportOnly = false;
  let survivors = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--part') {
      const value = argv[++i];
      if (value !== 'core' && value !== 'adapters') throw new Error(`--part must be "core" or "adapters", not "${value}"`);
      only = value;
    } else if (arg === '--report-only') reportOnly = true;
    else if (arg === '--survivors') survivors = true;
    else strykerArgs.push(arg);
  }
  return { only, reportOnly, survivors, strykerArgs };
}

function runPart(part: Part, strykerArgs: string[]): { status: number; seconds: number } {
  const started = Date.now();
  console.log(`\n=== mutation: ${part} (${parts[part].config}) ===`);
  const result = spawnSync('npx', ['stryker', 'run', parts[part].config, ...strykerArgs], { stdio: 'inherit' });
  return { status: result.status ?? 1, seconds: (Date.now() - started) / 1000 };
}

const pct = (n: number) => (Number.isNaN(n) ? 'n/a' : `${n.toFixed(2)} %`);

/** Per-file metrics of one Stryker JSON report (paths as Stryker wrote them, relative to the project). */
export function fileMetrics(report: MutationTestResult): Map<string, Metrics> {
  return new Map(Object.entries(report.files).map(([file, result]) => [file, calculateMetrics({ [file]: result }).metrics]));
}

function table(rows: Map<string, Metrics>): string {
  const lines = [
    '| file | mutants | killed | timed out | survived | no coverage | ignored | score |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const sum = { totalMutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0 };
  for (const [file, m] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(
      `| \`${file}\` | ${m.totalMutants} | ${m.killed} | ${m.timeout} | ${m.survived} | ${m.noCoverage} | ${m.ignored} | ${pct(m.mutationScore)} |`,
    );
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += m[k];
  }
  const detected = sum.killed + sum.timeout;
  const score = (100 * detected) / (detected + sum.survived + sum.noCoverage);
  lines.push(
    `| **all ${rows.size} files** | ${sum.totalMutants} | ${sum.killed} | ${sum.timeout} | ${sum.survived} | ${sum.noCoverage} | ${sum.ignored} | ${pct(score)} |`,
  );
  return lines.join('\n');
}

function main(): number {
  const { only, reportOnly, survivors, strykerArgs } = parseArgs(process.argv.slice(2));
  const chosen: Part[] = only ? [only] : ['core', 'adapters'];
  let failed = false;
  const times: string[] = [];
  if (!reportOnly) {
    for (const part of chosen) {
      const { status, seconds } = runPart(part, strykerArgs);
      times.push(`${part}: ${(seconds / 60).toFixed(1)} min${status === 0 ? '' : ` (Stryker exited ${status})`}`);
      if (status !== 0) failed = true;
    }
  }
  const rows = new Map<string, Metrics>();
  const notKilled: string[] = [];
  for (const part of Object.keys(parts) as Part[]) {
    const path = parts[part].report;
    if (!existsSync(path)) {
      console.log(`no report for ${part} yet (${path})`);
      continue;
    }
    const report = JSON.parse(readFileSync(path, 'utf8')) as MutationTestResult;
    for (const [file, metrics] of fileMetrics(report)) rows.set(file, metrics);
    for (const file of GOAL_FILES) {
      for (const m of report.files[file]?.mutants ?? []) {
        if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
        const at = `${file}:${m.location.start.line}:${m.location.start.column}`;
        notKilled.push(`${at} ${m.status} ${m.mutatorName}${m.static ? ' (static)' : ''}: ${JSON.stringify(m.replacement ?? '')}`);
      }
    }
  }
  if (survivors) console.log(`\n${notKilled.length} mutants of the goal files not killed:\n${notKilled.join('\n')}`);
  console.log(`\n${table(rows)}\n`);
  if (times.length > 0) console.log(`wall time: ${times.join(', ')}`);
  for (const file of GOAL_FILES) {
    const m = rows.get(file);
    const ok = m !== undefined && m.mutationScore >= GOAL;
    if (!ok) failed = true;
    console.log(`goal ≥ ${GOAL} %: ${file} ${m ? pct(m.mutationScore) : 'not run'} ${ok ? 'met' : 'NOT MET'}`);
  }
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
