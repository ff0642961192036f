/**
 * Fault injection on real SDK clients: a middleware that throws a chosen error for chosen commands,
 * a bounded number of times, before the request reaches the emulator.
 */
interface MiddlewareClient {
  // Loose on purpose: every SDK v3 client's overloaded stack fits.
  middlewareStack: {
    add: (...args: any[]) => void;
    remove: (name: string) => boolean;
  };
}

export interface FaultSpec {
  /** e.g. `UpdateDistributionCommand`; all commands when absent. */
  command?: string;
  /** Which error to throw; called with the attempt number (1-based). */
  error: (attempt: number) => Error;
  /** How many matching calls fail before the fault stops (default: forever). */
  times?: number;
  /** Throw only after this many matching calls went through (default 0). */
  after?: number;
}

export interface InjectedFault {
  /** How many matching calls were seen (failed or not). */
  readonly calls: number;
  readonly failures: number;
  remove(): void;
}

let counter = 0;

export function injectFault(client: MiddlewareClient, spec: FaultSpec): InjectedFault {
  const name = `injected-fault-${++counter}`;
  const state = { calls: 0, failures: 0 };
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (spec.command && context.commandName !== spec.command) return next(args);
      state.calls += 1;
      const eligible = state.calls > (spec.after ?? 0);
      if (eligible && (spec.times === undefined || state.failures < spec.times)) {
        state.failures += 1;
        throw spec.error(state.failures);
      }
      return next(args);
    },
    { step: 'initialize', name, priority: 'high' },
  );
  return {
    get calls() {
      return state.calls;
    },
    get failures() {
      return state.failures;
    },
    remove: () => void client.middlewareStack.remove(name),
  };
}

/** An error shaped like the SDK's service exceptions (name, $fault, $metadata). */
export function serviceError(name: string, message = name, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 1 },
  });
}

/** Records every command a client sends (name and input), for asserting API call counts and request bodies. */
export function recordCalls(client: MiddlewareClient): { calls: Array<{ command: string; input: any }>; remove(): void } {
  const name = `call-recorder-${++counter}`;
  const calls: Array<{ command: string; input: any }> = [];
  client.middlewareStack.add(
    (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: unknown }) => {
      calls.push({ command: context.commandName ?? 'unknown', input: structuredClone(args.input) });
      return next(args);
    },
    { step: 'initialize', name, priority: 'high' },
  );
  return { calls, remove: () => void client.middlewareStack.remove(name) };
}
