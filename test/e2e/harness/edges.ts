/**
 * The CloudFront edge fleet. One poller reads the emulated distribution's config (GetDistributionConfig on
 * moto) like CloudFront's control plane; when the `gateway-alb` origin's header value changes, every edge
 * schedules its switch at its own random moment within the propagation delay, as CloudFront edges do. Until
 * then an edge keeps sending the value it had. Versions only move forward on an edge: a later version that
 * is due replaces an earlier one that is not.
 *
 * The distribution's `Status` tells the truth about this fleet: `InProgress` until every edge sends the
 * configured value (and, for a slow deploy, until `minDeployMs` after the change was seen), `Deployed`
 * after. moto's state manager cannot express that: its transitions are global per model type (every
 * distribution of the shared moto_server, which other test files use at the same time), count calls or
 * seconds rather than edges, and UpdateDistribution never moves a distribution back to `InProgress`. So the
 * status comes from SDK middleware on the rotation's CloudFront client (`reportFleetStatus`), which
 * replaces `Distribution.Status` in every GetDistribution answer with the fleet's real state. The edges'
 * own poller uses a different client, so faults injected into the rotation's client never reach it.
 */
import { GetDistributionConfigCommand, type CloudFrontClient, type DistributionConfig } from '@aws-sdk/client-cloudfront';
import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
import {
  EDGE_HEADER,
  get,
  headerValue,
  keepAliveAgent,
  PIN_KONG_HEADER,
  PIN_UPSTREAM_HEADER,
  PIN_WAF_HEADER,
  reject,
  relay,
  SOURCE_HEADER,
  startLoopbackServer,
  type LoopbackServer,
} from './http.ts';
import { uniform } from './periodic.ts';

export interface EdgeFleetOptions {
  /** The harness's CloudFront client (not the rotation's). */
  client: CloudFrontClient;
  distributionId: string;
  originId: string;
  headerName: string;
  gatewayUrl: string;
  edges: number;
  /** Each edge switches at a uniformly random moment in [minMs, maxMs] after the change was seen. */
  switchDelay: { minMs: number; maxMs: number };
  /** How often the control plane reads the config. */
  pollMs: number;
  /** CloudFront slow to deploy: `InProgress` for at least this long after a change, even once edges switched. */
  minDeployMs: number;
}

interface ScheduledValue {
  version: number;
  value: string;
  at: number;
}

class Edge {
  private schedule: ScheduledValue[] = [];
  private applied: ScheduledValue;
  /** Where this edge's requests come from, as the gateway's security groups see them. */
  sourceAddress: () => string = () => '0.0.0.0';

  constructor(
    readonly id: number,
    initial: string,
  ) {
    this.applied = { version: 0, value: initial, at: 0 };
  }

  plan(entry: ScheduledValue): void {
    this.schedule.push(entry);
  }

  /** The value this edge sends now: the newest version whose moment has come. */
  sending(now = Date.now()): string {
    for (const entry of this.schedule) {
      if (entry.at <= now && entry.version > this.applied.version) this.applied = entry;
    }
    this.schedule = this.schedule.filter((entry) => entry.version > this.applied.version);
    return this.applied.value;
  }

  /** Every value this edge may still send: what it sends now and every version it has planned. */
  mayStillSend(now = Date.now()): string[] {
    this.sending(now);
    return [this.applied.value, ...this.schedule.map((e) => e.value)];
  }

  /** When this edge sends `version` (or newer) and will never apply an older one again; infinity if unknown. */
  settledAt(version: number, now = Date.now()): number {
    this.sending(now);
    if (this.applied.version >= version) return this.applied.at;
    const entry = this.schedule.find((e) => e.version === version);
    return entry ? entry.at : Number.POSITIVE_INFINITY;
  }
}

export function originHeaderValue(config: DistributionConfig | undefined, originId: string, headerName: string): string | undefined {
  const origin = config?.Origins?.Items?.find((o) => o.Id === originId);
  const header = origin?.CustomHeaders?.Items?.find((h) => h.HeaderName?.toLowerCase() === headerName.toLowerCase());
  return header?.HeaderValue;
}

export class EdgeFleet {
  readonly edges: Edge[] = [];
  private servers: LoopbackServer[] = [];
  private readonly agent: Agent = keepAliveAgent();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private version = 0;
  private configValue = '';
  private configSeenAt = 0;
  /** Every value the config held, in order, with when it was seen and when the last edge switched to it. */
  readonly history: Array<{ version: number; seenAt: number; allSwitchedAt: number }> = [];
  polls = 0;
  pollFailures = 0;
  maxPollGapMs = 0;
  private lastPollAt = 0;
  /** Called when an edge switches to a new value (the sweeper listens). */
  onSwitch?: (name: string) => void;
  private switchTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: EdgeFleetOptions) {}

  async start(): Promise<void> {
    const initial = await this.readConfigValue();
    if (!initial) throw new Error(`distribution ${this.options.distributionId} has no ${this.options.headerName} on ${this.options.originId}`);
    this.configValue = initial;
    this.lastPollAt = Date.now();
    for (let i = 0; i < this.options.edges; i++) {
      const edge = new Edge(i, initial);
      this.edges.push(edge);
      this.servers.push(await startLoopbackServer(`edge-${i}`, (req, res) => this.forward(edge, req, res)));
    }
    this.timer = setTimeout(() => void this.poll(), this.options.pollMs);
  }

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Switch timing for what comes next (e.g. edges switching late for one scenario). */
  setSwitchDelay(delay: { minMs: number; maxMs: number }): void {
    this.options.switchDelay = delay;
  }

  setMinDeployMs(ms: number): void {
    this.options.minDeployMs = ms;
  }

  /** Where the edges' requests come from (each request asks again), for the gateway's security groups. */
  setSourceAddresses(pick: () => string): void {
    for (const edge of this.edges) edge.sourceAddress = pick;
  }

  private async readConfigValue(): Promise<string | undefined> {
    const res = await this.options.client.send(new GetDistributionConfigCommand({ Id: this.options.distributionId }));
    return originHeaderValue(res.DistributionConfig, this.options.originId, this.options.headerName);
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      const value = await this.readConfigValue();
      const now = Date.now();
      this.polls += 1;
      this.maxPollGapMs = Math.max(this.maxPollGapMs, now - this.lastPollAt);
      this.lastPollAt = now;
      if (value && value !== this.configValue) this.deploy(value, now);
    } catch {
      this.pollFailures += 1;
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.options.pollMs);
  }

  private deploy(value: string, seenAt: number): void {
    this.version += 1;
    this.configValue = value;
    this.configSeenAt = seenAt;
    const { minMs, maxMs } = this.options.switchDelay;
    let last = seenAt;
    for (const edge of this.edges) {
      const at = seenAt + uniform(minMs, maxMs);
      last = Math.max(last, at);
      edge.plan({ version: this.version, value, at });
      const version = this.version;
      const timer = setTimeout(() => {
        this.switchTimers.delete(timer);
        if (!this.stopped && edge.settledAt(version) <= Date.now()) this.onSwitch?.(`edge-${edge.id} switched`);
      }, Math.max(0, at - Date.now()) + 1);
      this.switchTimers.add(timer);
    }
    this.history.push({ version: this.version, seenAt, allSwitchedAt: last });
  }

  /**
   * What GetDistribution should say for a distribution whose config holds `configured`: `Deployed` only when
   * the fleet has seen that config, every edge has applied that version (not merely an equal value: after a
   * rollback to the old value, an edge that has not switched yet may still apply the version in between),
   * and a slow deploy's minimum has passed.
   */
  statusFor(configured: string | undefined, now = Date.now()): 'Deployed' | 'InProgress' {
    if (configured === undefined || configured !== this.configValue) return 'InProgress';
    if (now < this.configSeenAt + this.options.minDeployMs) return 'InProgress';
    return this.edges.every((edge) => edge.settledAt(this.version) <= now) ? 'Deployed' : 'InProgress';
  }

  /** Distinct values the edges send right now. */
  sendingNow(): string[] {
    const now = Date.now();
    return [...new Set(this.edges.map((edge) => edge.sending(now)))];
  }

  /** When every edge sent the latest configured value (infinity while some have not). */
  allSwitchedAt(): number {
    return Math.max(...this.edges.map((edge) => edge.settledAt(this.version)));
  }

  private async forward(edge: Edge, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.stopped) return reject(res, 503, 'edge', 'edge stopped');
    // CloudFront overwrites a viewer header of the same name with the origin custom header. The source address
    // is the edge's own, unless the harness pins one for this request (a sweep over given addresses).
    const pins: Record<string, string> = {};
    for (const name of [PIN_WAF_HEADER, PIN_KONG_HEADER, PIN_UPSTREAM_HEADER]) {
      const pinned = headerValue(req.headers, name);
      if (pinned !== undefined) pins[name] = pinned;
    }
    const reply = await get(this.agent, `${this.options.gatewayUrl}${req.url ?? '/'}`, {
      ...pins,
      [this.options.headerName]: edge.sending(),
      [EDGE_HEADER]: String(edge.id),
      [SOURCE_HEADER]: headerValue(req.headers, SOURCE_HEADER) ?? edge.sourceAddress(),
    });
    relay(res, reply, 'edge');
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const timer of this.switchTimers) clearTimeout(timer);
    await Promise.all(this.servers.map((s) => s.close()));
    this.agent.destroy();
  }
}

/**
 * SDK middleware on the rotation's CloudFront client: GetDistribution answers carry the fleet's real
 * deployment state instead of moto's (see the file comment for why not moto's state manager).
 */
export function reportFleetStatus(client: CloudFrontClient, fleet: EdgeFleet, originId: string, headerName: string): void {
  // Loose on purpose, as in test/support/faults.ts: the SDK's overloaded stack types do not help here.
  (client.middlewareStack as unknown as { add: (...args: any[]) => void }).add(
    (next: (args: unknown) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: unknown) => {
      const result = await next(args);
      if (context.commandName === 'GetDistributionCommand') {
        const distribution = result.output?.Distribution;
        if (distribution) {
          distribution.Status = fleet.statusFor(originHeaderValue(distribution.DistributionConfig, originId, headerName));
        }
      }
      return result;
    },
    { step: 'initialize', name: 'e2e-edge-fleet-status', priority: 'low' },
  );
}
