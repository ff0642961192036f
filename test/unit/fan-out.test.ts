import { describe, expect, it } from 'vitest';
import { fanOut } from '../../lambdas/core/fan-out.ts';

/** A unit that finishes when the test says so: no timers, no sleeping. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('fanOut', () => {
  it('never runs more units at once than asked, and runs them all', async () => {
    const gates = Array.from({ length: 10 }, gate);
    let started = 0;
    const done = fanOut(gates, 3, async (g, i) => {
      started += 1;
      await g.opened;
      return i * 2;
    });
    await Promise.resolve();
    expect(started).toBe(3);
    gates.forEach((g) => g.open());
    const { results, peakConcurrency } = await done;
    expect(peakConcurrency).toBe(3);
    expect(results.map((r) => (r.ok ? r.value : 'failed'))).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it('keeps going past a failing unit and reports it in its place', async () => {
    const { results } = await fanOut(['a', 'b', 'c'], 2, async (x) => {
      if (x === 'b') throw new Error('AccessDenied');
      return x.toUpperCase();
    });
    expect(results[0]).toEqual({ ok: true, value: 'A' });
    expect(results[1]!.ok).toBe(false);
    expect((results[1] as { error: Error }).error.message).toBe('AccessDenied');
    expect(results[2]).toEqual({ ok: true, value: 'C' });
  });

  it('handles no work and refuses a concurrency that would run nothing', async () => {
    expect(await fanOut([], 4, async () => 1)).toEqual({ results: [], peakConcurrency: 0 });
    await expect(fanOut([1], 0, async () => 1)).rejects.toThrow(/concurrency must be a whole number of at least 1, not 0/);
  });
});
