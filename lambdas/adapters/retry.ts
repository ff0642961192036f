import { ConcurrentModificationError, TargetError } from '../core/errors.ts';

export interface WriteRetryOptions {
  /** Attempts in all, first one included (default 5). */
  attempts?: number;
  /** Backoff before retry n is about baseDelayMs × 2^(n-1), jittered. */
  baseDelayMs?: number;
  /** The loop gives up once this much time has gone. */
  maxElapsedMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full jitter, so that two writers that collided do not collide again in step. */
function jitteredBackoff(baseDelayMs: number, attempt: number): number {
  return Math.round(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
}

/**
 * Runs one read-modify-write until it succeeds, retrying while it throws a retryable TargetError (a stale
 * ETag / LockToken from a concurrent editor, throttling), bounded in attempts and time. Each attempt reads
 * afresh, so a concurrent editor's change survives.
 */
export async function retryReadModifyWrite(
  target: string,
  resource: string,
  once: () => Promise<void>,
  options: WriteRetryOptions & { baseDelayMs: number; maxElapsedMs: number },
): Promise<void> {
  const { attempts = 5, baseDelayMs, maxElapsedMs, sleep = defaultSleep } = options;
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      await once();
      return;
    } catch (error) {
      const outOfBudget = attempt >= attempts || Date.now() - startedAt >= maxElapsedMs;
      if (!(error instanceof TargetError) || !error.retryable || outOfBudget) {
        if (error instanceof ConcurrentModificationError && outOfBudget) {
          throw new ConcurrentModificationError(
            target,
            `the ${resource} kept changing under us (${attempt} attempts); someone else is editing it. Retry when they are done.`,
            { cause: error, retryable: true },
          );
        }
        throw error;
      }
      await sleep(jitteredBackoff(baseDelayMs, attempt));
    }
  }
}
