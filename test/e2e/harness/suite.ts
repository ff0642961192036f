/**
 * What every e2e test file shares: accounts seeded up front (before any traffic), one world per scenario,
 * and every world closed after the file even when a scenario failed.
 */
import { afterAll, beforeAll } from 'vitest';
import type { SeededAccount } from '../../../cli/seed.ts';
import { seedAccounts, World, type WorldOptions } from './world.ts';

/** Scenarios queue for a world slot (see World), so each may wait for others before its own run. */
export const SCENARIO_TIMEOUT_MS = 150_000;

export function scenarioSuite(scenarios: number): <T>(options: WorldOptions, fn: (world: World) => Promise<T>) => Promise<T> {
  let accounts: SeededAccount[] = [];
  const worlds = new Set<World>();
  beforeAll(async () => {
    accounts = await seedAccounts(scenarios);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...worlds].map((w) => w.close()));
  });
  return async (options, fn) => {
    const seeded = accounts.shift();
    if (!seeded) throw new Error(`more worlds than the ${scenarios} seeded accounts of this file; raise the count given to scenarioSuite`);
    const world = await World.start({ ...options, seeded });
    worlds.add(world);
    try {
      return await fn(world);
    } finally {
      await world.close();
      worlds.delete(world);
    }
  };
}
