import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The launcher that starts moto_server with the security-group rules quota counted per family, as AWS does
 * (moto counts IPv4 and IPv6 together): see test/support/moto_per_family.py.
 */
export const PER_FAMILY_LAUNCHER = fileURLToPath(new URL('../test/support/moto_per_family.py', import.meta.url));

/**
 * What to run: `MOTO_SERVER` (or `command`) as given; otherwise the per-family launcher under `MOTO_PYTHON`
 * (default `python3`) when it is present, else plain `moto_server`.
 */
export function emulatorCommand(options: { command?: string; env?: NodeJS.ProcessEnv } = {}): { command: string; args: string[] } {
  const env = options.env ?? process.env;
  const explicit = options.command ?? env.MOTO_SERVER;
  if (explicit) return { command: explicit, args: [] };
  if (existsSync(PER_FAMILY_LAUNCHER)) return { command: env.MOTO_PYTHON ?? 'python3', args: [PER_FAMILY_LAUNCHER] };
  return { command: 'moto_server', args: [] };
}

/** A moto_server process on a loopback port: the local emulated AWS account used by the demo, tests and bench. */
export interface LocalEmulator {
  readonly endpoint: string;
  readonly port: number;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export class EmulatorUnavailableError extends Error {
  override name = 'EmulatorUnavailableError';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new EmulatorUnavailableError(`moto_server exited with code ${child.exitCode} before it was ready`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`);
      if (res.ok) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new EmulatorUnavailableError(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms`, { cause: lastError });
}

/**
 * Starts `moto_server` on a free port of 127.0.0.1 and waits until it answers: through the per-family launcher
 * when it is present, else (or when that Python cannot run it: no moto there) plain `moto_server`.
 * Fails with an install hint when the binary is missing.
 */
export async function startLocalEmulator(options: { command?: string; timeoutMs?: number } = {}): Promise<LocalEmulator> {
  const chosen = emulatorCommand({ command: options.command });
  if (chosen.args.length === 0) return startEmulatorProcess(chosen.command, [], options.timeoutMs);
  try {
    return await startEmulatorProcess(chosen.command, chosen.args, options.timeoutMs);
  } catch (error) {
    if (!(error instanceof EmulatorUnavailableError)) throw error;
    process.stderr.write(`the per-family moto launcher did not start (${error.message.split('\n')[0]}); using plain moto_server, whose rules quota counts IPv4 and IPv6 together\n`);
    return startEmulatorProcess('moto_server', [], options.timeoutMs);
  }
}

async function startEmulatorProcess(command: string, args: string[], timeoutMs: number | undefined): Promise<LocalEmulator> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(command, [...args, '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new EmulatorUnavailableError(
              `'${command}' was not found. Install the local AWS emulator with: pip install 'moto[server]' (moto 5.2), or set MOTO_SERVER to its path (or MOTO_PYTHON to the Python that has moto).`,
            )
          : error,
      );
    });
  });
  try {
    await Promise.race([waitUntilReady(endpoint, child, timeoutMs ?? 20_000), spawnFailed]);
  } catch (error) {
    child.kill('SIGKILL');
    if (error instanceof EmulatorUnavailableError && stderr) error.message += `\nmoto_server said:\n${stderr}`;
    throw error;
  }
  return {
    endpoint,
    port,
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
