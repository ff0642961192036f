import { LeaseHeldError } from '../../lambdas/core/errors.ts';
import { lostLease, type Lease, type LeaseHolder, type LeasePort } from '../../lambdas/core/lease.ts';

/**
 * Leases in memory, with the same semantics as the DynamoDB adapter: one table shared by every writer of a
 * test (pass the same `MemoryLeaseTable` to each), one owner per `MemoryLeases`.
 */
export class MemoryLeaseTable {
  readonly items = new Map<string, LeaseHolder>();
  constructor(readonly now: () => Date = () => new Date()) {}
}

export class MemoryLeases implements LeasePort {
  constructor(
    private readonly table: MemoryLeaseTable,
    readonly owner: string,
  ) {}

  async acquire(key: string, purpose: string, durationMs: number): Promise<Lease> {
    const now = this.table.now();
    // Check and set with no await in between: the in-memory twin of DynamoDB's conditional put, atomic even
    // when two writers of one test interleave.
    const held = this.holderNow(key);
    if (held) throw new LeaseHeldError(key, held);
    this.table.items.set(key, { owner: this.owner, purpose, acquiredAt: now, expiresAt: new Date(now.getTime() + durationMs) });
    const mine = () => {
      const item = this.table.items.get(key);
      return item?.owner === this.owner && item.expiresAt.getTime() >= this.table.now().getTime() ? item : undefined;
    };
    return {
      key,
      owner: this.owner,
      purpose,
      extend: async (ms) => {
        const item = mine();
        if (!item) throw lostLease(key, this.owner, 'it expired or another writer took it');
        item.expiresAt = new Date(this.table.now().getTime() + ms);
      },
      check: async () => {
        if (!mine()) throw lostLease(key, this.owner, 'it expired or another writer took it');
      },
      release: async () => {
        if (this.table.items.get(key)?.owner === this.owner) this.table.items.delete(key);
      },
    };
  }

  async holder(key: string): Promise<LeaseHolder | undefined> {
    return this.holderNow(key);
  }

  private holderNow(key: string): LeaseHolder | undefined {
    const item = this.table.items.get(key);
    return item && item.expiresAt.getTime() >= this.table.now().getTime() ? { ...item } : undefined;
  }
}
