/**
 * Traffic: a bounded stream of legitimate client requests through the edges, and forged requests straight
 * to the gateway and to the upstreams. Every answer is counted; every non-2xx by the hop that refused it and
 * why (`x-e2e-hop` / `x-e2e-reason`, or `client` when no answer came back).
 *
 * Bounded: a fixed rate, a hard cap on the number of requests and on the time, and a cap on requests in
 * flight (beyond it a request is not sent and counted as `skipped`, never as accepted or refused).
 */
import type { Agent } from 'node:http';
import { get, headerValue, HOP_HEADER, keepAliveAgent, REASON_HEADER, type Reply } from './http.ts';

export interface StreamLimits {
  ratePerSecond: number;
  maxRequests: number;
  maxDurationMs: number;
  maxInFlight: number;
}

export interface StreamStats {
  sent: number;
  accepted: number;
  rejected: number;
  skipped: number;
  /** `hop: reason` → count. */
  rejectedBy: Record<string, number>;
  /** Whether a hard cap (count or time) stopped the stream before `stop()`. */
  capped: boolean;
  durationMs: number;
  /** Slowest answer and the most requests in flight at once. */
  maxLatencyMs: number;
  maxInFlight: number;
  /** Longest gap between two ticks of the sender (event loop stalls). */
  maxTickGapMs: number;
}

export interface Shot {
  url: string;
  headers: Record<string, string>;
  /** Label the result is counted under (forgeries: what was forged). */
  label?: string;
}

/** Sends `next()` at a fixed rate until stopped or capped. */
export class RequestStream {
  private readonly agent: Agent = keepAliveAgent();
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private stoppedAt = 0;
  private inFlight = new Set<Promise<unknown>>();
  private readonly stats: StreamStats = { sent: 0, accepted: 0, rejected: 0, skipped: 0, rejectedBy: {}, capped: false, durationMs: 0, maxLatencyMs: 0, maxInFlight: 0, maxTickGapMs: 0 };
  private lastTick = 0;
  /** Requests the stream itself fired (its rate and caps); sweeps sent with sendNow count in the stats only. */
  private own = 0;
  /** Per label: sent and accepted. */
  readonly byLabel: Record<string, { sent: number; accepted: number }> = {};
  /** Every accepted request's label and time (forgeries only keep these; kept bounded by maxRequests). */
  readonly acceptedAt: Array<{ label: string; at: number }> = [];

  constructor(
    private readonly limits: StreamLimits,
    private readonly next: () => Shot | undefined,
    private readonly options: { recordAccepted?: boolean } = {},
  ) {}

  start(): this {
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.tick(), 10);
    return this;
  }

  private tick(): void {
    const now = Date.now();
    if (this.lastTick) this.stats.maxTickGapMs = Math.max(this.stats.maxTickGapMs, now - this.lastTick);
    this.lastTick = now;
    const elapsed = now - this.startedAt;
    if (elapsed >= this.limits.maxDurationMs || this.own + this.stats.skipped >= this.limits.maxRequests) {
      this.stats.capped = true;
      this.halt();
      return;
    }
    const due = Math.min(
      Math.floor((this.limits.ratePerSecond * elapsed) / 1000) - this.own - this.stats.skipped,
      this.limits.maxRequests - this.own - this.stats.skipped,
    );
    for (let i = 0; i < due; i++) {
      if (this.inFlight.size >= this.limits.maxInFlight) {
        this.stats.skipped += 1;
        continue;
      }
      const shot = this.next();
      if (!shot) {
        this.stats.skipped += 1;
        continue;
      }
      this.own += 1;
      this.fire(shot);
    }
  }

  /** One extra request outside the rate (a sweep), counted like the others; resolves with the answer. */
  sendNow(shot: Shot): Promise<Reply> {
    return this.fire(shot);
  }

  private fire(shot: Shot): Promise<Reply> {
    this.stats.sent += 1;
    const label = shot.label ?? 'legit';
    const counts = (this.byLabel[label] ??= { sent: 0, accepted: 0 });
    counts.sent += 1;
    const sentAt = Date.now();
    const p = get(this.agent, shot.url, shot.headers, 15_000).then((reply) => {
      this.stats.maxLatencyMs = Math.max(this.stats.maxLatencyMs, Date.now() - sentAt);
      this.count(label, reply);
      return reply;
    });
    this.inFlight.add(p);
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight.size);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private count(label: string, reply: Reply): void {
    if (reply.status !== undefined && reply.status >= 200 && reply.status < 300) {
      this.stats.accepted += 1;
      this.byLabel[label].accepted += 1;
      if (this.options.recordAccepted) this.acceptedAt.push({ label, at: Date.now() });
      return;
    }
    this.stats.rejected += 1;
    const hop = reply.status === undefined ? 'client' : (headerValue(reply.headers, HOP_HEADER) ?? `unknown(${reply.status})`);
    const reason = reply.status === undefined ? (reply.error ?? 'no answer') : (headerValue(reply.headers, REASON_HEADER) ?? String(reply.status));
    const key = `${hop}: ${reason}`;
    this.stats.rejectedBy[key] = (this.stats.rejectedBy[key] ?? 0) + 1;
  }

  private halt(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.stoppedAt) this.stoppedAt = Date.now();
  }

  /** Stops sending, waits for the answers in flight (each bounded by its own timeout), returns the counts. */
  async stop(): Promise<StreamStats> {
    this.halt();
    await Promise.all([...this.inFlight]);
    this.agent.destroy();
    return { ...this.stats, rejectedBy: { ...this.stats.rejectedBy }, durationMs: this.stoppedAt - this.startedAt };
  }
}

/** Rejections grouped by hop only (`waf`, `kong`, `upstream`, ...). */
export function byHop(rejectedBy: Record<string, number>): Record<string, number> {
  const hops: Record<string, number> = {};
  for (const [key, count] of Object.entries(rejectedBy)) {
    const hop = key.split(':')[0];
    hops[hop] = (hops[hop] ?? 0) + count;
  }
  return hops;
}
