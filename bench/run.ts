/**
 * `npm run bench`: API calls, time and cold start of origin-guard, side by side with the naive approach
 * (issue 8). Sections run in this order: planner scale and Lambda packages (CPU only, before the emulator
 * takes memory), then the reconcile replay and the rotation against one moto_server on 127.0.0.1, stopped at
 * the end, also on error or Ctrl-C. Writes bench/results/latest.json and latest.md, prints the Markdown,
 * and exits 1 when a goal fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalEmulator, type LocalEmulator } from '../cli/local-emulator.ts';
import { runLambdaPackages } from './lambda-packages.ts';
import { loadHistory } from './lib/fixtures.ts';
import { runPlannerScale } from './planner-scale.ts';
import { runAdoptionReplay, runReconcileReplays } from './reconcile-replay.ts';
import { adoptionChecks, doneWhenChecks, renderMarkdown, type BenchResults } from './report.ts';
import { runRotationBench } from './rotation.ts';
import { renderAuditScale, runAuditScale } from './audit-scale.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const load = () => Math.round(loadavg()[0] * 100) / 100;

/** Read-only: the commit and the uncommitted files the figures describe. */
function gitState(): { gitHead?: string; dirtyPaths?: string[] } {
  try {
    const gitHead = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'lambdas', 'lib', 'bench'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const dirtyPaths = status.split('\n').filter(Boolean).map((l) => l.slice(3));
    return { gitHead, dirtyPaths };
  } catch {
    return {};
  }
}

/**
 * `npm run bench -- --only reconcile`: the reconcile replays and the adoption case only, against their own
 * moto_server; prints their goals and writes no results file (the full run writes latest.json and latest.md).
 */
async function onlyReconcile(): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'origin-guard-bench-'));
  const emulator = await startLocalEmulator();
  try {
    mkdirSync(join(tmp, 'feeds'));
    const reconcile = await runReconcileReplays({ endpoint: emulator.endpoint, dir: join(tmp, 'feeds'), history: loadHistory(), log });
    const adoption = await runAdoptionReplay({ endpoint: emulator.endpoint, dir: join(tmp, 'feeds'), history: loadHistory(), log });
    const checks = [
      ...doneWhenChecks({ reconcile, planner: { rows: [] }, packages: { rows: [] }, rotation: { rows: [], waits: [] } } as unknown as Omit<BenchResults, 'doneWhen'>).filter((c) => c.goal.startsWith('reconcile ')),
      ...adoptionChecks(adoption),
    ];
    const unique = checks.filter((c, i) => checks.findIndex((d) => d.goal === c.goal) === i);
    for (const c of unique) process.stdout.write(`${c.pass ? 'PASS' : 'FAIL'} ${c.goal}: ${c.measured}${c.why ? ` (${c.why})` : ''}\n`);
    return unique.every((c) => c.pass) ? 0 : 1;
  } finally {
    await emulator.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * `npm run bench -- --only cold-init [handler,…]`: section 4 alone (the bundles as deployed, cold init measured
 * 9 times each, no all-bundled comparison); prints each handler's figures with the load average before and
 * after, and the cold-init goals. Writes no results file.
 */
async function onlyColdInit(handlers: string[] | undefined): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'origin-guard-bench-'));
  try {
    const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
    const packages = await runLambdaPackages(tmp, log, { comparison: false, ...(handlers ? { handlers } : {}) });
    const loadAfter = loadavg().map((l) => Math.round(l * 100) / 100);
    process.stdout.write(`load average (1, 5, 15 min) ${loadBefore.join(' ')} → ${loadAfter.join(' ')}; ${cpus().length} CPUs\n`);
    process.stdout.write('| handler | minified bytes (files) | read at cold start bytes | import ms | cold-init ms median (min–max) | runs |\n| --- | --: | --: | --: | --: | --: |\n');
    for (const p of packages.rows) process.stdout.write(`| ${p.handler} | ${p.bytes.toLocaleString('en-US')} (${p.files}) | ${p.coldStartBytes.toLocaleString('en-US')} | ${p.importMedianMs} | ${p.coldInitMedianMs} (${p.coldInitMinMs}–${p.coldInitMaxMs}) | ${p.runs.length} |\n`);
    const checks = doneWhenChecks({ reconcile: [], planner: { rows: [] }, packages, rotation: { rows: [], waits: [] } } as unknown as Omit<BenchResults, 'doneWhen'>).filter((c) => c.goal.startsWith('lambda '));
    for (const c of checks) process.stdout.write(`${c.pass ? 'PASS' : 'FAIL'} ${c.goal}: ${c.measured}${c.why ? ` (${c.why})` : ''}\n`);
    return checks.every((c) => c.pass) ? 0 : 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * `npm run bench -- --only audit-scale [1,10,50,200]`: section 4b alone, against its own moto_server; prints its
 * table and goals. Writes no results file.
 */
async function onlyAuditScale(sizes: number[] | undefined): Promise<number> {
  const emulator = await startLocalEmulator();
  try {
    const auditScale = await runAuditScale({ endpoint: emulator.endpoint, log, ...(sizes ? { sizes } : {}) });
    process.stdout.write(`${renderAuditScale(auditScale)}\n`);
    const checks = doneWhenChecks({ reconcile: [], planner: { rows: [] }, packages: { rows: [] }, rotation: { rows: [], waits: [] }, auditScale } as unknown as Omit<BenchResults, 'doneWhen'>).filter((c) => c.goal.startsWith('audit '));
    for (const c of checks) process.stdout.write(`${c.pass ? 'PASS' : 'FAIL'} ${c.goal}: ${c.measured}${c.why ? ` (${c.why})` : ''}\n`);
    return checks.every((c) => c.pass) ? 0 : 1;
  } finally {
    await emulator.stop();
  }
}

const SECTIONS = ['reconcile', 'cold-init', 'audit-scale'] as const;

async function main(): Promise<number> {
  const only = process.argv.indexOf('--only');
  if (only >= 0) {
    const section = process.argv[only + 1];
    const arg = process.argv[only + 2]?.startsWith('--') ? undefined : process.argv[only + 2];
    if (section === 'reconcile') return onlyReconcile();
    if (section === 'cold-init') return onlyColdInit(arg ? arg.split(',') : undefined);
    if (section === 'audit-scale') {
      const sizes = arg ? arg.split(',').map(Number) : undefined;
      if (sizes?.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--only audit-scale ${arg}: sizes must be positive integers separated by commas, e.g. 1,10,50`);
      return onlyAuditScale(sizes);
    }
    throw new Error(`--only ${section ?? ''}: one of ${SECTIONS.join(', ')} can run alone`);
  }
  const started = Date.now();
  const loadStart = load();
  const git = gitState();
  const tmp = mkdtempSync(join(tmpdir(), 'origin-guard-bench-'));
  let emulator: LocalEmulator | undefined;
  const stop = async () => {
    const running = emulator;
    emulator = undefined;
    await running?.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping moto_server`);
      void stop().finally(() => process.exit(130));
    });
  }

  let partial: Omit<BenchResults, 'doneWhen' | 'durationS' | 'environment' | 'generatedAt' | 'command'>;
  try {
    const planner = runPlannerScale(log);
    mkdirSync(join(tmp, 'packages'));
    const packages = await runLambdaPackages(join(tmp, 'packages'), log);

    log('starting moto_server');
    emulator = await startLocalEmulator();
    mkdirSync(join(tmp, 'feeds'));
    const reconcile = await runReconcileReplays({ endpoint: emulator.endpoint, dir: join(tmp, 'feeds'), history: loadHistory(), log });
    const adoption = await runAdoptionReplay({ endpoint: emulator.endpoint, dir: join(tmp, 'feeds'), history: loadHistory(), log });
    const rotation = await runRotationBench({ endpoint: emulator.endpoint, log });
    const auditScale = await runAuditScale({ endpoint: emulator.endpoint, log });
    partial = { reconcile, adoption, planner, rotation, packages, auditScale };
  } finally {
    await stop();
  }

  const base = {
    generatedAt: new Date().toISOString(),
    command: 'npm run bench',
    durationS: Math.round((Date.now() - started) / 100) / 10,
    environment: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: { start: loadStart, end: load() },
      ...git,
    },
    ...partial,
  };
  const results: BenchResults = { ...base, doneWhen: doneWhenChecks(base) };
  const markdown = renderMarkdown(results);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  process.stdout.write(`${markdown}\n`);

  const failed = results.doneWhen.filter((c) => !c.pass);
  for (const c of failed) log(`FAIL ${c.goal}: ${c.why ?? c.measured}`);
  log(`${failed.length === 0 ? 'all goals PASS' : `${failed.length} check(s) FAIL`}; results in bench/results/latest.json and latest.md (${results.durationS} s)`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(2);
  },
);
