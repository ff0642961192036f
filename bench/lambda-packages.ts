/**
 * Section 4: each handler of lambdas/handlers/ bundled exactly as lib/function.ts has the CDK bundle it
 * (lib/bundle.mjs with `handlerBuildOptions`: ESM, minified, no source map, main fields module/main, the
 * runtime's Node target, the same externals, banner and `define` of the embedded configuration, and the plugin
 * that lets esbuild drop unused AWS SDK schemas), into a temporary directory; its size; and its cold-init
 * time in a fresh `node` process (bench/cold-init-probe.mjs), median of several runs.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { loadConfigFile } from '../lambdas/config.ts';
import { bundleHandler } from '../lib/bundle.mjs';
import { DEFAULT_HANDLERS_DIR, esbuildTarget, handlerBuildOptions, HANDLER_SDK_CLIENTS, latestNodeRuntime, PROJECT_ROOT, SDK_CLIENTS, type SdkClientPackage } from '../lib/function.ts';
import { median, round } from './lib/instrument.ts';

export const COLD_INIT_RUNS = 9;
/** Runs of the comparison variant (every SDK client bundled). */
const VARIANT_RUNS = 5;
const PROBE = fileURLToPath(new URL('./cold-init-probe.mjs', import.meta.url));

export interface ColdInitRun {
  importMs?: number;
  firstRequestMs?: number;
  firstRequest?: string;
  /** Spawn to exit, as seen by the parent (includes Node's own start-up). */
  processMs: number;
  error?: string;
}

export interface PackageRow {
  handler: string;
  /** Every file of the function's code: index.mjs and its chunks. */
  bytes: number;
  /** index.mjs and the chunks it imports statically: what a cold start reads; the rest is read on first use. */
  coldStartBytes: number;
  files: number;
  gzipBytes: number;
  /** Packages imported at run time instead of bundled (lib/function.ts externals), by what a cold start reads. */
  externalImports: string[];
  /** The same, imported only by chunks read on first use (possibly never). */
  externalOnUse?: string[];
  /** Largest inputs in the bundle, by package, bytes in the output. */
  topInputs: Array<{ name: string; bytes: number }>;
  runs: ColdInitRun[];
  importMedianMs: number;
  /** Median of (first request - import): the handler's lazy construction and the first call's in-process work. */
  firstInvocationMedianMs: number;
  coldInitMedianMs: number;
  coldInitMinMs: number;
  coldInitMaxMs: number;
  processMedianMs: number;
  firstRequest: string;
  errors: string[];
}

export interface PackagesResult {
  target: string;
  /** Per handler: the SDK clients it bundles (lib/function.ts HANDLER_SDK_CLIENTS); the others are external. */
  bundled: Record<string, readonly string[]>;
  rows: PackageRow[];
  /** Comparison, not a goal: the same handlers with no external (every SDK client bundled); empty when lib/function.ts has no externals. */
  allBundled: PackageRow[];
}

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return match ? match[1] : `origin-guard (${path.split('/').slice(0, 2).join('/')})`;
}

function runProbe(bundle: string, handler: string, resultFile: string, env: NodeJS.ProcessEnv): Promise<ColdInitRun> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [PROBE, bundle, handler, resultFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', () => {
      clearTimeout(killer);
      const processMs = performance.now() - started;
      try {
        const out = JSON.parse(readFileSync(resultFile, 'utf8')) as Omit<ColdInitRun, 'processMs'>;
        resolve({ ...out, processMs });
      } catch {
        resolve({ processMs, error: `the probe wrote no result: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
      }
    });
  });
}

export async function runLambdaPackages(dir: string, log: (line: string) => void = () => {}, options: { comparison?: boolean; handlers?: string[] } = {}): Promise<PackagesResult> {
  // The CDK side: where the handlers are, the runtime (its Node version is the esbuild target), the externals.
  const projectRoot = PROJECT_ROOT;
  const handlersDir = DEFAULT_HANDLERS_DIR;
  const runtime = latestNodeRuntime();
  const target = esbuildTarget(runtime);
  // As bin/app.ts does: the validated configuration, embedded at bundle time.
  const config = loadConfigFile(join(projectRoot, 'origin-guard.config.example.json'));
  const configJson = JSON.stringify(config);

  // Externals resolve from the bundle's directory, as the Lambda runtime provides them: link node_modules.
  symlinkSync(join(projectRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const port = await closedPort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    AWS_REGION: config.region,
    AWS_DEFAULT_REGION: config.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ORIGIN_GUARD_CONFIG_JSON: configJson,
    ALERT_TOPIC_ARN: `arn:aws:sns:${config.region}:123456789012:origin-guard-alerts`,
    ALERT_STATE_TABLE: 'origin-guard-alert-state',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };

  const handlers = readdirSync(handlersDir)
    .filter((f) => /\.(ts|mts|js|mjs)$/.test(f))
    .filter((f) => !options.handlers || options.handlers.includes(basename(f).replace(/\.[^.]+$/, '')))
    .sort();
  const bundledFor = (handler: string): readonly SdkClientPackage[] => (HANDLER_SDK_CLIENTS as Record<string, readonly SdkClientPackage[]>)[handler] ?? [];
  const measurePackage = async (file: string, bundledClients: 'as-deployed' | 'all', variant: string, runsWanted: number): Promise<PackageRow> => {
    const handler = basename(file).replace(/\.[^.]+$/, '');
    // Exactly the build lib/function.ts gives the CDK (lib/bundle.mjs with its options), or every client bundled.
    const outdir = join(dir, variant, handler);
    mkdirSync(outdir, { recursive: true });
    const outfile = join(outdir, 'index.mjs');
    const bundledSdkClients = bundledClients === 'all' ? SDK_CLIENTS : bundledFor(handler);
    const result = await bundleHandler({ ...handlerBuildOptions({ entry: join(handlersDir, file), bundledSdkClients, config, runtime }), outdir, metafile: true });
    // index.mjs and its chunks: those it imports statically load at cold start, the others when first used.
    const outputs = result.metafile.outputs;
    const key = (path: string) => resolve(path);
    const byFile = new Map(Object.entries(outputs).map(([path, output]) => [key(path), output]));
    const atStart = new Set<string>();
    const visit = (path: string) => {
      if (atStart.has(path)) return;
      atStart.add(path);
      for (const i of byFile.get(path)?.imports ?? []) if (i.kind === 'import-statement' && !i.external) visit(key(i.path));
    };
    visit(key(outfile));
    const byPackage = new Map<string, number>();
    for (const output of byFile.values()) for (const [path, input] of Object.entries(output.inputs)) byPackage.set(packageOf(path), (byPackage.get(packageOf(path)) ?? 0) + input.bytesInOutput);
    const topInputs = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, bytes]) => ({ name, bytes }));
    // Runtime-provided packages: imported by what a cold start reads, or only by chunks read on first use.
    const externalsOf = (outputs: Array<Metafile['outputs'][string]>, staticOnly: boolean) =>
      new Set(outputs.flatMap((o) => o.imports.filter((i) => i.external && !i.path.startsWith('node:') && (!staticOnly || i.kind === 'import-statement')).map((i) => i.path)));
    const externalImports = [...externalsOf([...atStart].map((f) => byFile.get(f)!), true)].sort();
    const externalOnUse = [...externalsOf([...byFile.values()], false)].filter((p) => !externalImports.includes(p)).sort();
    const files = [...byFile.keys()];
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    const coldStartBytes = [...atStart].reduce((n, f) => n + statSync(f).size, 0);

    const runs: ColdInitRun[] = [];
    for (let i = 0; i < runsWanted; i++) {
      runs.push(await runProbe(outfile, handler, join(outdir, `cold-init-${i}.json`), { ...env, POWERTOOLS_SERVICE_NAME: `origin-guard-${handler}`, AWS_LAMBDA_FUNCTION_NAME: `origin-guard-${handler}` }));
    }
    const ok = runs.filter((r) => r.firstRequestMs !== undefined);
    const cold = ok.map((r) => r.firstRequestMs!);
    const row: PackageRow = {
      handler,
      bytes,
      coldStartBytes,
      files: files.length,
      gzipBytes: files.reduce((n, f) => n + gzipSync(readFileSync(f)).length, 0),
      externalImports,
      externalOnUse,
      topInputs,
      runs: runs.map((r) => ({ ...r, importMs: r.importMs === undefined ? undefined : round(r.importMs, 2), firstRequestMs: r.firstRequestMs === undefined ? undefined : round(r.firstRequestMs, 2), processMs: round(r.processMs, 2) })),
      importMedianMs: round(median(ok.map((r) => r.importMs!)), 1),
      firstInvocationMedianMs: round(median(ok.map((r) => r.firstRequestMs! - r.importMs!)), 1),
      coldInitMedianMs: round(median(cold), 1),
      coldInitMinMs: round(Math.min(...cold), 1),
      coldInitMaxMs: round(Math.max(...cold), 1),
      processMedianMs: round(median(runs.map((r) => r.processMs)), 1),
      firstRequest: ok[0]?.firstRequest ?? '',
      errors: [...new Set(runs.filter((r) => r.error).map((r) => r.error!))],
    };
    log(`package ${handler} (${variant}): ${bytes} bytes, cold-init median ${row.coldInitMedianMs} ms (import ${row.importMedianMs} ms)${row.errors.length ? `; ${row.errors.join('; ')}` : ''}`);
    return row;
  };

  const rows: PackageRow[] = [];
  for (const file of handlers) rows.push(await measurePackage(file, 'as-deployed', 'as-deployed', COLD_INIT_RUNS));
  // For comparison only (not a goal): the same bundles with every SDK client bundled, i.e. no runtime-provided client.
  const allBundled: PackageRow[] = [];
  if (options.comparison !== false) for (const file of handlers) allBundled.push(await measurePackage(file, 'all', 'all-bundled', VARIANT_RUNS));
  const bundled = Object.fromEntries(handlers.map((file) => { const h = basename(file).replace(/\.[^.]+$/, ''); return [h, bundledFor(h)]; }));
  return { target, bundled, rows, allBundled };
}
