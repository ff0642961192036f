/**
 * One writer at a time per secret (and per reconcile target): every writer — each rotation step, retire,
 * `rotate --local`, `adopt`, the emergency path, reconcile from the CLI or a Lambda — takes the key's lease
 * before it changes a target, and releases it on exit. A lease can lapse under a long pause (a frozen Lambda,
 * a laptop lid), so a holder calls `lease.check()` right before each target write, and `extend` while it waits.
 * The pattern is that of the DynamoDB Lock Client: a conditional put, an owner, an expiry, a TTL for crashes.
 */
import { LeaseLostError } from './errors.ts';

export interface LeaseHolder {
  /** Who: e.g. `cli:laptop.local:4242:1f3a…`, `lambda:origin-guard-rotation:<request id>`. */
  owner: string;
  /** What for, in words: `rotation createSecret`, `retire`, `rotate --local`, `reconcile`. */
  purpose: string;
  acquiredAt: Date;
  expiresAt: Date;
}

export interface Lease {
  readonly key: string;
  readonly owner: string;
  readonly purpose: string;
  /** Pushes the expiry to now + `durationMs`; throws LeaseLostError when someone else holds the key now. */
  extend(durationMs: number): Promise<void>;
  /** Throws LeaseLostError unless this lease is still held and unexpired. Call right before each target write. */
  check(): Promise<void>;
  /** Gives the key up; a no-op when it already lapsed or was taken over. */
  release(): Promise<void>;
}

export interface LeasePort {
  /** Takes `key` for `durationMs`, or throws LeaseHeldError naming the holder (nothing changed). */
  acquire(key: string, purpose: string, durationMs: number): Promise<Lease>;
  /** Who holds `key` now, if anyone (an expired holder counts as nobody). */
  holder(key: string): Promise<LeaseHolder | undefined>;
}

export const leaseKey = {
  secret: (name: string) => `secret:${name}`,
  reconcileTarget: (name: string) => `reconcile-target:${name}`,
};

/** Runs `work` holding `key`, releasing it on every exit path. */
export async function withLease<T>(leases: LeasePort, key: string, purpose: string, durationMs: number, work: (lease: Lease) => Promise<T>): Promise<T> {
  const lease = await leases.acquire(key, purpose, durationMs);
  try {
    return await work(lease);
  } finally {
    await lease.release().catch(() => undefined);
  }
}

/** An owner id for this process: `<kind>:<where>:<random>`, unique per acquisition site. */
export function leaseOwner(kind: 'cli' | 'lambda', where: string): string {
  return `${kind}:${where}:${globalThis.crypto.randomUUID().slice(0, 8)}`;
}

export function lostLease(key: string, owner: string, why: string): LeaseLostError {
  return new LeaseLostError(`${key}: the lease held by ${owner} was lost (${why}); stopped before the next write`);
}
