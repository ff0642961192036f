/**
 * Work split per account and region, run with at most `concurrency` units in flight; one unit's failure is its
 * own result and never stops the others (an account whose role is missing is one finding, not a failed audit).
 */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface FanOutResult<T> {
  results: Settled<T>[];
  /** The most units that ran at once (never above the concurrency asked for). */
  peakConcurrency: number;
}

export async function fanOut<I, T>(items: readonly I[], concurrency: number, run: (item: I, index: number) => Promise<T>): Promise<FanOutResult<T>> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a whole number of at least 1, not ${concurrency}`);
  const results: Settled<T>[] = new Array(items.length);
  let next = 0;
  let inFlight = 0;
  let peak = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      try {
        results[index] = { ok: true, value: await run(items[index]!, index) };
      } catch (error) {
        results[index] = { ok: false, error };
      } finally {
        inFlight -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { results, peakConcurrency: peak };
}
