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
