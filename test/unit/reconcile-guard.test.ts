import { describe, expect, it } from 'vitest';
import { IpRangesSchema } from '../../lambdas/config.ts';
import { silentLog } from '../../lambdas/core/ports.ts';
import { confirmsHeld, nextHeld, reconcile, type IpFeedPort, type ReconcileDeps } from '../../lambdas/core/reconcile.ts';
import { decodeHeld, encodeHeld } from '../../lambdas/adapters/ec2-security-groups.ts';
import { leaseKey } from '../../lambdas/core/lease.ts';
import { MemoryLeases, MemoryLeaseTable } from '../support/memory-lease.ts';
import { MemorySecurityGroups } from '../support/memory-security-groups.ts';
import { FakeClock, MemoryAlerts } from '../support/memory-targets.ts';

const HOUR = 3_600_000;
const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `151.101.${i}.0/24`);

/** An unversioned feed (Fastly's public-ip-list) whose body the test changes between runs. */
class FastlyFeed implements IpFeedPort {
  body = '';
  set(list: string[]) {
    this.body = JSON.stringify({ addresses: list, ipv6_addresses: ['2a04:4e40::/32'] });
  }
  async fetchText() {
    return this.body;
  }
  async konnectConfigurations() {
    return [];
  }
}

function setup(overrides: Record<string, unknown> = {}) {
  const config = IpRangesSchema.parse({
    targets: [{ name: 'edge', securityGroupIds: ['sg-0a', 'sg-0b'], ports: [443], sources: [{ type: 'fastly', url: 'https://api.fastly.com/public-ip-list' }], ...overrides }],
  });
  const feed = new FastlyFeed();
  const groups = new MemorySecurityGroups();
  const clock = new FakeClock();
  const alerts = new MemoryAlerts();
  const deps: ReconcileDeps = { feeds: feed, groups, alerts, clock, log: silentLog };
  const run = async () => (await reconcile(config, {}, deps)).targets[0];
  // The IPv4 ranges the target's rules admit (the feed's one IPv6 range stays throughout).
  const owned = () => groups.rules.filter((r) => r.description?.startsWith('origin-guard:edge:') && !r.cidr?.includes(':')).map((r) => r.cidr).sort();
  return { feed, groups, clock, run, owned };
}

describe('removal guard for sources without versions', () => {
  it('removes nothing when the list flaps full, truncated, full (runs an hour apart)', async () => {
    const { feed, groups, clock, run, owned } = setup();
    feed.set(cidrs(20));
    expect((await run()).status).toBe('changes');
    expect(owned()).toEqual(cidrs(20).sort());

    // A truncated but valid answer (half the list) for two runs.
    feed.set(cidrs(10));
    for (let i = 0; i < 2; i++) {
      clock.advance(HOUR);
      const t = await run();
      expect(t.status).toBe('held');
      expect(t.findings.find((f) => f.checkId === 'reconcile.removal-held')?.status).toBe('FAIL');
    }
    clock.advance(HOUR);
    feed.set(cidrs(20));
    const back = await run();

    expect(back.status).toBe('in-sync');
    expect(groups.removed).toBe(0);
    expect(owned()).toEqual(cidrs(20).sort());
    expect(groups.state.held).toBeUndefined();
  });

  it('applies a shrink once the same set has been seen for removalGuardHours across two runs', async () => {
    const { feed, groups, clock, run } = setup({ removalGuardHours: 6 });
    feed.set(cidrs(20));
    await run();
    feed.set(cidrs(10));
    // Two runs at once (the CLI run twice) and one five hours later do not confirm it.
    expect((await run()).status).toBe('held');
    expect((await run()).status).toBe('held');
    clock.advance(5 * HOUR);
    expect((await run()).status).toBe('held');
    expect(groups.removed).toBe(0);
    expect(groups.state.held).toMatchObject({ runs: 3 });
    // Six hours after it was first seen, the same set is applied.
    clock.advance(HOUR);
    const t = await run();
    expect(t.status).toBe('changes');
    expect(t.notes.join(' ')).toMatch(/applied because the same shrunken set/);
    expect(groups.removed).toBe(10);
    expect(groups.state.held).toBeUndefined();
  });

  it('starts the span again when the held set changes', async () => {
    const { feed, groups, clock, run } = setup({ removalGuardHours: 6 });
    feed.set(cidrs(20));
    await run();
    feed.set(cidrs(10));
    await run();
    clock.advance(4 * HOUR);
    feed.set(cidrs(9));
    await run();
    clock.advance(4 * HOUR);
    expect((await run()).status).toBe('held');
    expect(groups.removed).toBe(0);
  });

  it('fails closed on a set that shrinks or grows beyond maxGrowthFactor: nothing added, nothing removed', async () => {
    const { feed, groups, clock, run, owned } = setup({ maxGrowthFactor: 3 });
    feed.set(cidrs(30));
    await run();
    // 31 rules (30 IPv4 + 1 IPv6) down to 10: beyond the factor.
    feed.set([...cidrs(8), '198.51.100.0/24']);
    clock.advance(HOUR);
    const shrunk = await run();
    expect(shrunk.status).toBe('held');
    expect(shrunk.notes.join(' ')).toMatch(/shrinks from 31 to 10 rules, more than maxGrowthFactor 3/);
    expect(groups.added).toBe(31);
    expect(groups.removed).toBe(0);
    // Inflated: more than three times the rules.
    feed.set(cidrs(100));
    const grown = await run();
    expect(grown.status).toBe('held');
    expect(grown.notes.join(' ')).toMatch(/grows from 31 to 101 rules/);
    expect(owned()).toEqual(cidrs(30).sort());
  });
});

describe('held state', () => {
  it('round-trips through the tag value, and reads a value written before since/runs existed', () => {
    const held = nextHeld(undefined, 'abcdef0123456789', undefined, new Date('2026-01-01T00:00:00Z'));
    expect(decodeHeld(encodeHeld(held))).toEqual({ fingerprint: 'abcdef0123456789', since: '2026-01-01T00:00:00.000Z', runs: 1 });
    expect(decodeHeld('abcdef0123456789@1760000100')).toEqual({ fingerprint: 'abcdef0123456789', syncToken: '1760000100' });
  });

  it('confirms versioned sources by a later version, whatever the time', () => {
    const now = new Date();
    expect(confirmsHeld({ fingerprint: 'f', syncToken: '100' }, '101', now, 6)).toBe(true);
    expect(confirmsHeld({ fingerprint: 'f', syncToken: '100' }, '100', now, 6)).toBe(false);
    expect(confirmsHeld({ fingerprint: 'f' }, undefined, now, 0)).toBe(true);
    expect(confirmsHeld({ fingerprint: 'f' }, undefined, now, 6)).toBe(false);
  });
});

describe('the reconcile lease', () => {
  it('skips a target another run holds, writing nothing, and releases its own lease after a run', async () => {
    const { feed, groups } = setup();
    feed.set(cidrs(12));
    const table = new MemoryLeaseTable();
    const config = IpRangesSchema.parse({ targets: [{ name: 'edge', securityGroupIds: ['sg-0a'], ports: [443], sources: [{ type: 'fastly', url: 'https://api.fastly.com/public-ip-list' }] }] });
    const deps = (owner: string): ReconcileDeps => ({ feeds: feed, groups, alerts: new MemoryAlerts(), clock: new FakeClock(), log: silentLog, leases: new MemoryLeases(table, owner) });
    const lambda = await new MemoryLeases(table, 'lambda:reconcile:1').acquire(leaseKey.reconcileTarget('edge'), 'reconcile', 60_000);

    const skipped = (await reconcile(config, {}, deps('cli:laptop:1'))).targets[0];
    expect(skipped.status).toBe('skipped');
    expect(skipped.notes.join(' ')).toMatch(/reconcile-target:edge is being changed by reconcile \(lambda:reconcile:1\)/);
    expect(groups.rules).toEqual([]);
    // A dry run needs no lease.
    expect((await reconcile(config, { dryRun: true }, deps('cli:laptop:2'))).targets[0].status).toBe('changes');

    await lambda.release();
    const applied = (await reconcile(config, {}, deps('cli:laptop:3'))).targets[0];
    expect(applied.status).toBe('changes');
    expect(groups.rules).toHaveLength(13);
    expect(table.items.size).toBe(0);
  });

  it('stops before writing when its lease was lost during the run', async () => {
    const { feed, groups } = setup();
    feed.set(cidrs(12));
    const table = new MemoryLeaseTable();
    const config = IpRangesSchema.parse({ targets: [{ name: 'edge', securityGroupIds: ['sg-0a'], ports: [443], sources: [{ type: 'fastly', url: 'https://api.fastly.com/public-ip-list' }] }] });
    // The other writer takes the key over while this run reads its feed (a long pause let the lease lapse).
    const slowFeed: IpFeedPort = {
      fetchText: async (url, source) => {
        table.items.set(leaseKey.reconcileTarget('edge'), { owner: 'lambda:other', purpose: 'reconcile', acquiredAt: new Date(), expiresAt: new Date(Date.now() + 60_000) });
        return feed.fetchText();
      },
      konnectConfigurations: async () => [],
    };
    const result = (await reconcile(config, {}, { feeds: slowFeed, groups, alerts: new MemoryAlerts(), clock: new FakeClock(), log: silentLog, leases: new MemoryLeases(table, 'cli:me') })).targets[0];
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/lease held by cli:me was lost/);
    expect(groups.rules).toEqual([]);
  });
});
