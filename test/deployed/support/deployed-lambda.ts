/**
 * Invokes a deployed function's bundle the way the Lambda service does: a separate Node process per invocation,
 * the synthesized environment with its references resolved to emulator resources, the runtime's variables,
 * the function's own credentials (one access key per function, so the recording proxy knows who called), and
 * the endpoint override pointing at the recording proxy.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeployedFunction } from './deployed-world.ts';
import type { RecordedCall, RecordingProxy } from './recording-proxy.ts';

const RUNNER = join(dirname(fileURLToPath(import.meta.url)), 'lambda-runner.mjs');

export interface Invocation {
  fn: string;
  ok: boolean;
  result?: any;
  error?: { name: string; message: string; code?: string };
  /** The AWS calls this invocation sent, in order. */
  calls: RecordedCall[];
  /** stdout + stderr of the process (the function's logs). */
  output: string;
}

let invocationCount = 0;

/**
 * The access key of the role credentials one invocation gets: the function's prefix and a counter, so the calls
 * of invocations running side by side are told apart.
 */
export function accessKeyOf(fn: DeployedFunction, invocation: number): string {
  return `ASIA${createHash('sha256').update(fn.logicalId).digest('hex').slice(0, 10).toUpperCase()}${String(invocation).padStart(6, '0')}`;
}

export interface InvokeOptions {
  /** Run a copy of the bundle from another directory (negative control: a runtime without one SDK client). */
  handlerPath?: string;
  /** Leave this variable out of the environment (negative control). */
  dropVariable?: string;
  /** Hard stop for the process, below the test timeout; the function's own timeout applies inside. */
  killAfterMs?: number;
}

export function lambdaEnvironment(fn: DeployedFunction, resolve: (v: unknown) => any, region: string, endpoint: string, accessKeyId: string): Record<string, string> {
  const variables = Object.fromEntries(Object.entries(fn.environment).map(([k, v]) => [k, String(resolve(v))]));
  return {
    ...variables,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(fn.timeoutSeconds),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: 'deployed-test-secret-key',
    AWS_SESSION_TOKEN: `session-${fn.roleLogicalId}`,
    AWS_ENDPOINT_URL: endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

export async function invokeBundle(
  fn: DeployedFunction,
  event: unknown,
  context: { proxy: RecordingProxy; resolve: (v: unknown) => any; region: string },
  options: InvokeOptions = {},
): Promise<Invocation> {
  const key = accessKeyOf(fn, (invocationCount += 1));
  const env = lambdaEnvironment(fn, context.resolve, context.region, context.proxy.url, key);
  if (options.dropVariable) delete env[options.dropVariable];
  const dir = mkdtempSync(join(tmpdir(), 'og-invoke-'));
  const eventFile = join(dir, 'event.json');
  const resultFile = join(dir, 'result.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const first = context.proxy.calls.length;
  const handlerPath = options.handlerPath ?? join(fn.assetDir, fn.handlerFile);
  let output = '';
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [RUNNER, handlerPath, fn.handlerExport, eventFile, resultFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 45_000);
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  let answer: { ok: boolean; result?: any; error?: Invocation['error'] };
  try {
    answer = JSON.parse(readFileSync(resultFile, 'utf8'));
  } catch {
    answer = { ok: false, error: { name: 'Runtime.ExitError', message: `process exited with ${code} without a result: ${output.slice(-2000)}` } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const calls = context.proxy.calls.slice(first).filter((c) => c.accessKeyId === key);
  return { fn: fn.serviceName, ...answer, calls, output };
}
