/**
 * Deterministic coverage of every window (issue 15). Random traffic samples a short unsafe window only by
 * chance; a sweep does not: after every write that changes what a sender sends or a validator accepts
 * (UpdateWebACL, a Kong route PATCH/PUT, a vault write, UpdateDistribution, a stage move or an overlap tag, each
 * edge's switch, each node whose view changed, each retired value becoming due), the sweeper sends
 *
 * - through each edge, one request per gateway node (WAF node i, Kong node i, upstream i: pinned), carrying
 *   whatever that edge sends now;
 * - straight to the gateway, every value a CloudFront edge may still send (what some edge sends now, what an
 *   edge has planned, what the distribution config holds) to every WAF node (the whole path behind it) and to
 *   every Kong node judged on its own (`x-e2e-only: kong`), so a WAF refusal never hides Kong's answer;
 * - straight to every upstream, every value a Kong vault may still send (what some node's vault holds, and
 *   AWSCURRENT, which any vault may load next);
 * - forged: every retired value whose validators had their propagation delay, to every WAF node and every Kong
 *   node each judged on its own (`x-e2e-only`), and to every upstream (up to FORGED_PROBES_PER_VALUE_NODE times
 *   per value and node in a scenario; the forged stream keeps presenting them at random all along).
 *
 * Legitimate sweep requests count in the scenario's client stream (a refusal is a refusal), forged ones in the
 * forged stream (an acceptance is a forged acceptance). Each is logged with the value (fingerprint), the node,
 * the version of the node's view that judged it and the time. The product never waits for a sweep: a sweep
 * starts the moment its write returns and runs beside the product (waiting would widen the very windows the
 * sweep is there to see: a validator write followed by a wait hides a sender that switches too early). Up to
 * `MAX_CONCURRENT_SWEEPS` run at once; triggers beyond that join the next queued sweep.
 */
import { expect } from 'vitest';
import { headerValue, ONLY_HOP_HEADER, PIN_KONG_HEADER, PIN_UPSTREAM_HEADER, PIN_WAF_HEADER, SOURCE_HEADER, VIEW_HEADER, type Reply } from './http.ts';
import type { RequestStream } from './load.ts';

export type SweepHop = 'cdn-to-gateway' | 'gateway-to-upstream';

export interface SweepEntry {
  trigger: string;
  at: number;
  hop: SweepHop;
  kind: 'legit' | 'forged';
  /** Fingerprint of the value sent. */
  value: string;
  /** The node the coverage is counted for: `edge-2`, `waf-0`, `kong-1`, `upstream-0`. */
  node: string;
  /** Nodes and view versions that judged it, as the gateway said (`waf-0@2 kong-0@1 ...`), or `upstream-0`. */
  view: string;
  /** Phase: the values (fingerprints) senders of the hop may still send when the sweep ran. */
  phase: string;
  status?: number;
  accepted: boolean;
}

/** What the sweeper needs from the world (kept narrow so scenarios of issues 11, 12 and 17 can reuse it). */
export interface SweepWorld {
  readonly gatewayUrl: string;
  readonly edges: Array<{ id: number; url: string; sending(): string }>;
  readonly wafNodes: number;
  readonly kongNodes: number;
  readonly upstreamUrls: string[];
  readonly headers: Record<SweepHop, string>;
  /** Every value a sender of `hop` may still send now. */
  mayStillSend(hop: SweepHop): Promise<string[]>;
  /** Retired values of `hop` that every validator must refuse by now. */
  retiredDue(hop: SweepHop): string[];
  /** Source address for requests straight at the gateway (range scenarios check it). */
  directSource(): string;
  fingerprint(value: string): string;
}

export interface CoverageOptions {
  /** Minimum legitimate requests per (value, node) in each overlap phase (default 1). */
  minPerValueNode?: number;
  /** Minimum forged requests per (retired value, validator node) (default 1). */
  minForgedPerValueNode?: number;
}

const MAX_ENTRIES = 50_000;
/** Forged probes per (retired value, node) in one scenario: enough to show each node refuses it, bounded. */
export const FORGED_PROBES_PER_VALUE_NODE = 3;
/** Hard cap on the requests all sweeps of one scenario send; past it no sweep runs and coverage fails. */
export const MAX_SWEEP_REQUESTS = 30_000;
export const MAX_CONCURRENT_SWEEPS = 3;

export class Sweeper {
  readonly entries: SweepEntry[] = [];
  sweeps = 0;
  /** Triggers seen while active (each caused or joined a sweep). */
  readonly triggers: string[] = [];
  private active = false;
  private running = new Set<Promise<void>>();
  private queued?: { triggers: string[]; done: Promise<void> };
  private timers = new Set<NodeJS.Timeout>();
  private probes = new Map<string, number>();
  legit?: RequestStream;
  forged?: RequestStream;

  constructor(private readonly world: SweepWorld) {}

  /** Sweeps run only while a scenario's streams run. */
  start(legit: RequestStream, forged: RequestStream): void {
    this.legit = legit;
    this.forged = forged;
    this.active = true;
  }

  async stop(): Promise<void> {
    this.active = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (let i = 0; i < 100 && (this.running.size > 0 || this.queued); i++) await Promise.all([...this.running, this.queued?.done]);
  }

  /**
   * A sweep after `trigger`, started now (or, when `MAX_CONCURRENT_SWEEPS` are under way, as soon as one ends,
   * together with the other triggers that waited). Resolves when it was answered; the product never awaits it.
   */
  after(trigger: string): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.triggers.push(trigger);
    if (this.running.size < MAX_CONCURRENT_SWEEPS) return this.launch(trigger);
    if (this.queued) {
      this.queued.triggers.push(trigger);
      return this.queued.done;
    }
    const queued: { triggers: string[]; done: Promise<void> } = { triggers: [trigger], done: Promise.resolve() };
    // A queued sweep runs even when the scenario is stopping: its triggers happened while it ran (stop() waits).
    queued.done = Promise.race([...this.running]).then(() => {
      if (this.queued === queued) this.queued = undefined;
      return this.launch(queued.triggers.join(', '));
    });
    this.queued = queued;
    return queued.done;
  }

  private launch(trigger: string): Promise<void> {
    const p = this.sweep(trigger).catch(() => {});
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  /** A sweep at `at` (a retired value becoming due), bounded by the scenario. */
  at(at: number, trigger: string): void {
    if (!this.active) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.after(trigger);
    }, Math.max(0, at - Date.now()) + 5);
    this.timers.add(timer);
  }

  private log(entry: Omit<SweepEntry, 'at' | 'accepted' | 'view' | 'status'>, reply: Reply, viewFallback: string): void {
    if (this.entries.length >= MAX_ENTRIES) return;
    const accepted = reply.status !== undefined && reply.status >= 200 && reply.status < 300;
    this.entries.push({ ...entry, at: Date.now(), status: reply.status, accepted, view: headerValue(reply.headers, VIEW_HEADER) ?? viewFallback });
  }

  /** Requests sent by sweeps so far (bounded by MAX_SWEEP_REQUESTS). */
  sent = 0;
  capped = false;

  private async sweep(trigger: string): Promise<void> {
    const { legit, forged } = this;
    if (!legit || !forged) return;
    if (this.sent >= MAX_SWEEP_REQUESTS) {
      this.capped = true;
      return;
    }
    this.sweeps += 1;
    const w = this.world;
    const fp = (v: string) => w.fingerprint(v);
    // The CDN hop first (no I/O to know its values), then the upstream hop (AWSCURRENT is read from moto).
    const upstreamValues$ = w.mayStillSend('gateway-to-upstream');
    const cdnValues = await w.mayStillSend('cdn-to-gateway');
    const phase = { 'cdn-to-gateway': cdnValues.map(fp).sort().join(','), 'gateway-to-upstream': '' };
    const nodes = Math.max(w.wafNodes, w.kongNodes, w.upstreamUrls.length);
    const shots: Array<Promise<void>> = [];
    const n = this.sweeps;

    // Through each edge, pinned to node i of each tier.
    for (const edge of w.edges) {
      for (let i = 0; i < nodes; i++) {
        const value = edge.sending();
        const pins = { [PIN_WAF_HEADER]: String(i % w.wafNodes), [PIN_KONG_HEADER]: String(i % w.kongNodes), [PIN_UPSTREAM_HEADER]: String(i % w.upstreamUrls.length) };
        shots.push(
          legit.sendNow({ url: `${edge.url}/api/sweep/${n}/edge-${edge.id}/${i}`, headers: pins, label: 'sweep/edge' }).then((reply) =>
            this.log({ trigger, hop: 'cdn-to-gateway', kind: 'legit', value: fp(value), node: `edge-${edge.id}`, phase: phase['cdn-to-gateway'] }, reply, ''),
          ),
        );
      }
    }
    // Every value an edge may still send, to every WAF node and every Kong node.
    const source = w.directSource();
    for (const value of cdnValues) {
      for (let i = 0; i < Math.max(w.wafNodes, w.kongNodes); i++) {
        const headers = {
          [w.headers['cdn-to-gateway']]: value,
          [SOURCE_HEADER]: source,
          [PIN_WAF_HEADER]: String(i % w.wafNodes),
          [PIN_KONG_HEADER]: String(i % w.kongNodes),
          [PIN_UPSTREAM_HEADER]: String(i % w.upstreamUrls.length),
        };
        const base = { trigger, hop: 'cdn-to-gateway' as const, kind: 'legit' as const, value: fp(value), phase: phase['cdn-to-gateway'] };
        // The whole path (security groups, WAF node i, Kong node i, upstream), counted for the WAF node ...
        if (i < w.wafNodes) {
          shots.push(
            legit.sendNow({ url: `${w.gatewayUrl}/api/sweep/${n}/gateway/${i}`, headers, label: 'sweep/gateway' }).then((reply) => this.log({ ...base, node: `waf-${i}` }, reply, '')),
          );
        }
        // ... and Kong node i judging on its own, so a WAF refusal never hides what Kong would do.
        if (i < w.kongNodes) {
          const kongHeaders = { [w.headers['cdn-to-gateway']]: value, [ONLY_HOP_HEADER]: 'kong', [PIN_KONG_HEADER]: String(i) };
          shots.push(
            legit.sendNow({ url: `${w.gatewayUrl}/api/sweep/${n}/kong/${i}`, headers: kongHeaders, label: 'sweep/kong' }).then((reply) => this.log({ ...base, node: `kong-${i}` }, reply, '')),
          );
        }
      }
    }
    // Every value a vault may still send, to every upstream.
    const upstreamValues = await upstreamValues$;
    phase['gateway-to-upstream'] = upstreamValues.map(fp).sort().join(',');
    for (const value of upstreamValues) {
      w.upstreamUrls.forEach((url, u) => {
        shots.push(
          legit.sendNow({ url: `${url}/api/sweep/${n}/upstream`, headers: { [w.headers['gateway-to-upstream']]: value }, label: 'sweep/upstream' }).then((reply) =>
            this.log({ trigger, hop: 'gateway-to-upstream', kind: 'legit', value: fp(value), node: `upstream-${u}`, phase: phase['gateway-to-upstream'] }, reply, `upstream-${u}`),
          ),
        );
      });
    }
    // Forged: every retired value that is due, to every validator node, each hop judged on its own.
    for (const value of w.retiredDue('cdn-to-gateway')) {
      for (const [hop, count, pin] of [
        ['waf', w.wafNodes, PIN_WAF_HEADER],
        ['kong', w.kongNodes, PIN_KONG_HEADER],
      ] as const) {
        for (let i = 0; i < count; i++) {
          if (!this.probe(`cdn ${value} ${hop}-${i}`)) continue;
          const headers = { [w.headers['cdn-to-gateway']]: value, [SOURCE_HEADER]: source, [ONLY_HOP_HEADER]: hop, [pin]: String(i) };
          shots.push(
            forged.sendNow({ url: `${w.gatewayUrl}/api/sweep/${n}/forged`, headers, label: `sweep/retired-value(${hop})` }).then((reply) =>
              this.log({ trigger, hop: 'cdn-to-gateway', kind: 'forged', value: fp(value), node: `${hop}-${i}`, phase: phase['cdn-to-gateway'] }, reply, ''),
            ),
          );
        }
      }
    }
    for (const value of w.retiredDue('gateway-to-upstream')) {
      w.upstreamUrls.forEach((url, u) => {
        if (!this.probe(`upstream ${value} ${u}`)) return;
        shots.push(
          forged.sendNow({ url: `${url}/api/sweep/${n}/forged`, headers: { [w.headers['gateway-to-upstream']]: value }, label: 'sweep/retired-value(upstream)' }).then((reply) =>
            this.log({ trigger, hop: 'gateway-to-upstream', kind: 'forged', value: fp(value), node: `upstream-${u}`, phase: phase['gateway-to-upstream'] }, reply, `upstream-${u}`),
          ),
        );
      });
    }
    this.sent += shots.length;
    await Promise.all(shots);
  }

  /** Whether one more forged probe of this (value, node) is due (at most FORGED_PROBES_PER_VALUE_NODE). */
  private probe(key: string): boolean {
    const n = this.probes.get(key) ?? 0;
    if (n >= FORGED_PROBES_PER_VALUE_NODE) return false;
    this.probes.set(key, n + 1);
    return true;
  }

  /** Legitimate sweep requests per overlap phase (two or more values), value and node; forged per value and node. */
  coverage(): { phases: Record<string, Record<string, Record<string, number>>>; forged: Record<string, Record<string, number>> } {
    const phases: Record<string, Record<string, Record<string, number>>> = {};
    const forged: Record<string, Record<string, number>> = {};
    for (const e of this.entries) {
      if (e.kind === 'forged') {
        const byNode = (forged[`${e.hop} ${e.value}`] ??= {});
        byNode[e.node] = (byNode[e.node] ?? 0) + 1;
        continue;
      }
      if (!e.phase.includes(',')) continue;
      const byValue = (phases[`${e.hop} {${e.phase}}`] ??= {});
      const byNode = (byValue[e.value] ??= {});
      byNode[e.node] = (byNode[e.node] ?? 0) + 1;
    }
    return { phases, forged };
  }

  /** The coverage as lines for the console and the report. */
  coverageLines(): string[] {
    const { phases, forged } = this.coverage();
    const table = (byNode: Record<string, number>) =>
      Object.entries(byNode)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([node, count]) => `${node}×${count}`)
        .join(' ');
    const lines = [`${this.sweeps} sweeps after ${this.triggers.length} triggers, ${this.entries.length} requests logged`];
    for (const [phase, byValue] of Object.entries(phases)) {
      for (const [value, byNode] of Object.entries(byValue)) lines.push(`overlap ${phase}: ${value} → ${table(byNode)}`);
    }
    for (const [value, byNode] of Object.entries(forged)) lines.push(`retired ${value} (forged) → ${table(byNode)}`);
    return lines;
  }

  /**
   * Fails when a window was not covered: every overlap phase seen must have had each of its values sent to each
   * node at least `minPerValueNode` times, every retired value probed on each validator node, and a scenario that
   * wrote (triggers) must have swept.
   */
  expectCovered(options: CoverageOptions & { expectOverlap?: SweepHop[]; expectRetired?: SweepHop[] } = {}): void {
    const min = options.minPerValueNode ?? 1;
    const minForged = options.minForgedPerValueNode ?? 1;
    const w = this.world;
    const gatewayNodes = [...Array.from({ length: w.wafNodes }, (_, i) => `waf-${i}`), ...Array.from({ length: w.kongNodes }, (_, i) => `kong-${i}`)];
    const edgeNodes = w.edges.map((e) => `edge-${e.id}`);
    const upstreamNodes = w.upstreamUrls.map((_, u) => `upstream-${u}`);
    const { phases, forged } = this.coverage();
    const short: string[] = [];
    if (this.triggers.length > 0 && this.sweeps === 0) short.push(`${this.triggers.length} writes but no sweep ran`);
    if (this.capped) short.push(`sweeps stopped at their cap of ${MAX_SWEEP_REQUESTS} requests`);
    for (const [phase, byValue] of Object.entries(phases)) {
      const hop = phase.split(' ')[0] as SweepHop;
      const values = phase.slice(phase.indexOf('{') + 1, -1).split(',');
      const nodes = hop === 'cdn-to-gateway' ? gatewayNodes : upstreamNodes;
      for (const value of values) {
        for (const node of nodes) {
          const count = byValue[value]?.[node] ?? 0;
          if (count < min) short.push(`${phase}: ${value} on ${node} ${count} < ${min}`);
        }
      }
      if (hop === 'cdn-to-gateway') {
        const throughEdges = Object.values(byValue).reduce((sum, byNode) => sum + edgeNodes.reduce((s, n) => s + (byNode[n] ?? 0), 0), 0);
        if (throughEdges === 0) short.push(`${phase}: no request through the edges`);
      }
    }
    for (const hop of options.expectOverlap ?? []) {
      if (!Object.keys(phases).some((p) => p.startsWith(`${hop} `))) short.push(`${hop}: no overlap phase was swept`);
    }
    for (const [key, byNode] of Object.entries(forged)) {
      const nodes = key.startsWith('cdn-to-gateway') ? gatewayNodes : upstreamNodes;
      for (const node of nodes) if ((byNode[node] ?? 0) < minForged) short.push(`retired ${key} on ${node} ${byNode[node] ?? 0} < ${minForged}`);
    }
    for (const hop of options.expectRetired ?? []) {
      if (!Object.keys(forged).some((k) => k.startsWith(`${hop} `))) short.push(`${hop}: no retired value was probed`);
    }
    expect(short, 'coverage of the windows (see the printed coverage)').toEqual([]);
  }
}
