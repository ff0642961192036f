/**
 * `npm run test:e2e [-- --report] [vitest options]`: runs the e2e scenarios with vitest (which refuses
 * flags it does not know, hence this runner). With `--report`, every scenario's counts are collected
 * (E2E_REPORT_DIR, see harness/report.ts) and written as Markdown to docs/e2e-report.md. Exits with vitest's code.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMarkdown, REPORT_DIR_ENV, type ScenarioResult } from './harness/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPORT_FILE = join(ROOT, 'docs', 'e2e-report.md');
const KEPT_FROM = '\n## Sensitivity check';
const GROUP_ORDER = ['rotation', 'faults', 'crash', 'ranges', 'broken ordering (must fail)'];

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const report = args.includes('--report');
  const vitestArgs = args.filter((a) => a !== '--report');
  const reportDir = report ? mkdtempSync(join(tmpdir(), 'og-e2e-report-')) : undefined;
  const started = Date.now();
  const code = await new Promise<number>((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/e2e', ...vitestArgs], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, ...(reportDir ? { [REPORT_DIR_ENV]: reportDir } : {}) },
    });
    child.on('exit', (exitCode, signal) => done(exitCode ?? (signal ? 1 : 0)));
    child.on('error', () => done(1));
  });
  if (!reportDir) return code;

  try {
    const file = join(reportDir, 'scenarios.jsonl');
    const results: ScenarioResult[] = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ScenarioResult)
      : [];
    const rank = (r: ScenarioResult) => (GROUP_ORDER.indexOf(r.group) + 1 || GROUP_ORDER.length + 1) * 1000;
    results.sort((a, b) => rank(a) - rank(b) || a.scenario.localeCompare(b.scenario));
    mkdirSync(dirname(REPORT_FILE), { recursive: true });
    // Hand-run sections (the sensitivity check: a temporary change to the product, never committed) are kept.
    const previous = existsSync(REPORT_FILE) ? readFileSync(REPORT_FILE, 'utf8') : '';
    const kept = previous.includes(KEPT_FROM) ? previous.slice(previous.indexOf(KEPT_FROM)) : '';
    writeFileSync(
      REPORT_FILE,
      renderMarkdown(results, {
        generatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        node: process.version,
        command: ['npm run test:e2e -- --report', ...vitestArgs].join(' '),
        wallMs: Date.now() - started,
        vitestExit: code,
      }) + (kept ? `\n${kept}` : ''),
    );
    console.log(`\ne2e report: ${results.length} scenarios written to ${relative(process.cwd(), REPORT_FILE)}`);
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
  return code;
}

process.exitCode = await main();
