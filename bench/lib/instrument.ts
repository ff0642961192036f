/**
 * Counting and timing what the code under test sends, on the real clients: an SDK middleware (the technique
 * of test/support/faults.ts `recordCalls`) that also times each command, and a fetch wrapper for Kong.
 * Every call goes into the sink that is current when it starts, so a section can attribute calls per step.
 */
import { performance } from 'node:perf_hooks';

export interface CallRecord {
  /** `ec2:AuthorizeSecurityGroupIngress`, `kong:PATCH`, ... */
  name: string;
  write: boolean;
  /** Time from the SDK's `initialize` step to the parsed answer (serialize, sign, HTTP, parse), or the fetch. */
  ms: number;
  /** The command input (SDK) by reference; the code under test builds a fresh object per call. */
  input?: any;
}

export class CallSink {
  readonly calls: CallRecord[] = [];
  get reads(): number {
    return this.calls.filter((c) => !c.write).length;
  }
  get writes(): number {
    return this.calls.filter((c) => c.write).length;
  }
  get ms(): number {
    return this.calls.reduce((sum, c) => sum + c.ms, 0);
  }
  count(name: string): number {
    return this.calls.filter((c) => c.name === name).length;
  }
  byName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls) out[c.name] = (out[c.name] ?? 0) + 1;
    return out;
  }
}

/** Where calls go now; `undefined`: not recorded (set-up and verification traffic). */
export class CallRecorder {
  current: CallSink | undefined;

  /** Runs `fn` with a fresh sink and returns it with the wall time of `fn`. */
  async measure<T>(fn: () => Promise<T>): Promise<{ value: T; sink: CallSink; wallMs: number }> {
    const sink = new CallSink();
    const previous = this.current;
    this.current = sink;
    const started = performance.now();
    try {
      const value = await fn();
      return { value, sink, wallMs: performance.now() - started };
    } finally {
      this.current = previous;
    }
  }
}

interface MiddlewareClient {
  middlewareStack: { add: (...args: any[]) => void; remove: (name: string) => boolean };
}

/** Read-only operations by name; everything else counts as a write. */
const READ_PREFIXES = ['Describe', 'Get', 'List'];

let counter = 0;

/** Counts and times every command `client` sends while `recorder` has a sink; returns a remover. */
export function instrumentClient(client: MiddlewareClient, service: string, recorder: CallRecorder): () => void {
  const name = `bench-recorder-${++counter}`;
  client.middlewareStack.add(
    (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: unknown }) => {
      const sink = recorder.current;
      if (!sink) return next(args);
      const command = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const started = performance.now();
      try {
        return await next(args);
      } finally {
        sink.calls.push({
          name: `${service}:${command}`,
          write: !READ_PREFIXES.some((p) => command.startsWith(p)),
          ms: performance.now() - started,
          input: args.input,
        });
      }
    },
    { step: 'initialize', name, priority: 'high' },
  );
  return () => void client.middlewareStack.remove(name);
}

/** A fetch that records each request (method, time) into the recorder's current sink. */
export function instrumentFetch(service: string, recorder: CallRecorder, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const sink = recorder.current;
    if (!sink) return base(input, init);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const started = performance.now();
    try {
      const response = await base(input, init);
      // The caller reads the body after this returns; read it here so its time counts as the call's.
      const body = await response.arrayBuffer();
      const nullBody = [101, 204, 205, 304].includes(response.status);
      return new Response(nullBody ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } finally {
      sink.calls.push({ name: `${service}:${method}`, write: method !== 'GET' && method !== 'HEAD', ms: performance.now() - started });
    }
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
