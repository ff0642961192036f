/**
 * A node's cached view of some remote state, refreshed on the node's own schedule: what a WAF node, a Kong
 * node or a Kong vault holds. The view is the state as read at the start of the load that produced it.
 *
 * `maxAgeMs` is the node's promise, derived from the delay the product is configured with: a request never
 * sees a view older than that. Timers alone cannot keep that promise on a busy 2-core machine (a stalled
 * event loop fires them late), so `fresh()` reloads first when the view is too old, as a node that is on
 * schedule would have. The oldest view any request saw is recorded, to show the model held.
 */
export interface PeriodicViewOptions<T> {
  name: string;
  load: () => Promise<T>;
  /** Delay between the start of one load and the next (a function, so a node may jitter). */
  intervalMs: () => number;
  /** Delay before the first scheduled refresh (the node's random phase). */
  phaseMs: number;
  /** A request never sees a view older than this. */
  maxAgeMs: number;
  /** Only refresh on schedule when this says so (Kong's vault: only values whose TTL ran out). */
  due?: (loadedAt: number, now: number) => boolean;
  /** Called after a load that changed the view (not the first load): the node now judges differently. */
  onChange?: (name: string) => void;
}

export class PeriodicView<T> {
  private current?: T;
  private loadedAt = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight?: Promise<void>;
  /** Oldest view (ms) a request was answered with. */
  maxServedAgeMs = 0;
  /** When the node started serving what it serves now (the last load that changed the view). */
  changedAt = 0;
  loads = 0;
  failures = 0;
  /** The view's version: how many times it changed (0 for the first view); logged with every swept request. */
  version = 0;

  constructor(private readonly options: PeriodicViewOptions<T>) {}

  /** Loads once (a node that never loaded is a harness problem: fail loudly), then refreshes on schedule. */
  async start(): Promise<void> {
    await this.reload();
    if (this.current === undefined) throw new Error(`${this.options.name}: first load failed`);
    this.schedule(this.options.phaseMs);
  }

  /** The view for a request: reloaded first when it is older than the node's promise. */
  async fresh(): Promise<T> {
    if (Date.now() - this.loadedAt > this.options.maxAgeMs) await this.reload();
    this.maxServedAgeMs = Math.max(this.maxServedAgeMs, Date.now() - this.loadedAt);
    return this.value;
  }

  /** The view as it is (for convergence checks, not for answering requests). */
  get value(): T {
    if (this.current === undefined) throw new Error(`${this.options.name}: view read before it was loaded`);
    return this.current;
  }

  private reload(): Promise<void> {
    this.inFlight ??= (async () => {
      const startedAt = Date.now();
      try {
        const next = await this.options.load();
        const first = this.current === undefined;
        const changed = first || JSON.stringify(next) !== JSON.stringify(this.current);
        if (changed) this.changedAt = Date.now();
        this.current = next;
        if (changed && !first) {
          this.version += 1;
          this.options.onChange?.(this.options.name);
        }
        this.loadedAt = startedAt;
        this.loads += 1;
      } catch {
        // A node that cannot reach its source keeps serving what it has (WAF, Kong and vaults all do).
        this.failures += 1;
      }
    })().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, delayMs));
  }

  private async tick(): Promise<void> {
    const startedAt = Date.now();
    if (!this.options.due || this.options.due(this.loadedAt, startedAt)) await this.reload();
    this.schedule(this.options.intervalMs() - (Date.now() - startedAt));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

export function uniform(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** At most `slots` holders at once; the others wait their turn (first come, first served). */
export class Semaphore {
  private waiting: Array<() => void> = [];
  private held = 0;
  constructor(private readonly slots: number) {}

  async acquire(): Promise<() => void> {
    if (this.held >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.held -= 1;
    };
  }
}

/**
 * The history of some remote state as one poller sees it (a web ACL on moto, a route in the fake Kong's store):
 * every `pollMs` it reads the state and, when it changed, records the new value with `since`, the start of the
 * previous poll, which still saw the old value. So each change happened after its `since`: a node that adopts a
 * change `lag` after its `since` adopts it no later than `lag` after the write, whatever the poller's timing.
 * `seenAt` is the start of the last poll that finished: the state was as the last entry says at least until then.
 */
export class ViewHistory<T> {
  readonly entries: Array<{ since: number; value: T }> = [];
  seenAt = 0;
  polls = 0;
  failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight?: Promise<void>;
  private inFlightStartedAt = 0;
  private readonly listeners: Array<(index: number) => void> = [];

  constructor(private readonly options: { name: string; load: () => Promise<T>; pollMs: number }) {}

  async start(): Promise<void> {
    await this.poll();
    if (this.entries.length === 0) throw new Error(`${this.options.name}: first load failed`);
    this.schedule(this.options.pollMs);
  }

  /** Called with the index of each new entry. */
  onRecord(listener: (index: number) => void): void {
    this.listeners.push(listener);
  }

  poll(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const startedAt = Date.now();
    this.inFlightStartedAt = startedAt;
    this.inFlight = (async () => {
      try {
        const value = await this.options.load();
        const last = this.entries.at(-1);
        if (!last) this.entries.push({ since: Number.NEGATIVE_INFINITY, value });
        else if (JSON.stringify(value) !== JSON.stringify(last.value)) {
          this.entries.push({ since: this.seenAt, value });
          for (const listener of this.listeners) listener(this.entries.length - 1);
        }
        this.seenAt = startedAt;
        this.polls += 1;
      } catch {
        this.failures += 1; // the nodes keep serving what they have, as WAF and Kong nodes do
      }
    })().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Resolves once a poll that started at or after `notBefore` has finished: the one in flight if it started late
   * enough, else the next one (at most two polls, however slow the source is).
   */
  async seenSince(notBefore: number): Promise<void> {
    if (this.seenAt >= notBefore) return;
    if (this.inFlight && this.inFlightStartedAt >= notBefore) return this.inFlight;
    if (this.inFlight) await this.inFlight;
    if (this.seenAt < notBefore) await this.poll();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, delayMs));
  }

  private async tick(): Promise<void> {
    const startedAt = Date.now();
    await this.poll();
    this.schedule(this.options.pollMs - (Date.now() - startedAt));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * A node that serves a shared history exactly `lagMs` late: it adopts each change at the change's `since` plus
 * `lagMs`, i.e. as late as a node may while still adopting within `lagMs` of the write. The slowest node of a tier
 * is given the whole propagation delay the product is configured with, so it holds the old view for as long as
 * the product promises to wait, and not a moment longer: a product that waits less is refused there on the next
 * sweep, deterministically, instead of by the luck of a random refresh phase.
 *
 * `fresh()` first makes sure the poller saw the state within `freshWithinMs` (a stalled event loop delays the
 * poller; the request then waits for a poll), so a change the product has waited for is never missed.
 */
export class LaggedView<T> {
  /** Oldest view (ms) a request was answered with: how long the state had been different from what was served. */
  maxServedAgeMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly history: ViewHistory<T>,
    private readonly options: { name: string; lagMs: number; freshWithinMs: number; onChange?: (name: string) => void },
  ) {
    history.onRecord((index) => {
      if (this.stopped) return;
      const due = history.entries[index].since + options.lagMs;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.stopped) options.onChange?.(options.name);
      }, Math.max(0, due - Date.now()) + 1);
      this.timers.add(timer);
    });
  }

  get lagMs(): number {
    return this.options.lagMs;
  }

  private indexAt(now: number): number {
    const { entries } = this.history;
    for (let i = entries.length - 1; i > 0; i--) if (entries[i].since + this.options.lagMs <= now) return i;
    return 0;
  }

  /** Which change of the history this node serves now (0 for the first state); logged with every swept request. */
  get version(): number {
    return this.indexAt(Date.now());
  }

  /** When this node started serving what it serves now. */
  get changedAt(): number {
    const index = this.indexAt(Date.now());
    return index === 0 ? 0 : this.history.entries[index].since + this.options.lagMs;
  }

  /** The view as it is (for convergence checks, not for answering requests). */
  get value(): T {
    const entry = this.history.entries[this.indexAt(Date.now())];
    if (!entry) throw new Error(`${this.options.name}: view read before it was loaded`);
    return entry.value;
  }

  /** The view for a request. */
  async fresh(): Promise<T> {
    await this.history.seenSince(Date.now() - this.options.freshWithinMs);
    const now = Date.now();
    const index = this.indexAt(now);
    const next = this.history.entries[index + 1];
    this.maxServedAgeMs = Math.max(this.maxServedAgeMs, now - (next ? next.since : this.history.seenAt));
    return this.history.entries[index].value;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
