/**
 * The gateway: an ALB with its security groups and a regional WAF in front of Kong nodes.
 *
 * - Security groups (only when a scenario sets `sourceCheck`): the edge's source address must be allowed.
 * - WAF: several nodes, each serving the web ACL's history (GetWebACL on moto every 100 ms, read with
 *   `acceptedValuesOfRule`) at its own fixed lag (see LaggedView): node i of n adopts each change
 *   (n - i) / n of the configured WAF propagation delay after it, so node 0 holds the old view for the whole
 *   delay the product promises to wait, and no longer. A request is blocked unless its `X-Origin-Verify`
 *   exactly matches an accepted value. (Random refresh phases, as before issue 15, left the unsafe window to
 *   chance: a product that skipped its wait was caught 4 times in 15.)
 * - Kong: several nodes, each serving the route's history (the fake Kong's store, polled every 25 ms, as a
 *   node polls its database every `db_update_frequency`) at the same lags against Kong's configured
 *   propagation. A request matches the route only when the header is one of the route's values (names and
 *   values case-insensitive, as Kong's router); otherwise Kong answers 404.
 * - Vault: each Kong node resolves `{vault://aws/...}` to the gateway-to-upstream secret's AWSCURRENT and
 *   caches it for the vault `ttl`; a timer every `rotationCheck` re-reads values whose TTL ran out, as Kong's
 *   vault rotation timer does. That value goes upstream in `x-kong-origin-verify`. Vault `ttl` and rotation
 *   are not in Kong's OpenAPI documents: see https://developer.konghq.com/gateway/entities/vault/ and
 *   https://docs.konghq.com/gateway/latest/kong-enterprise/secrets-management/advanced-usage/ (`ttl`: how long a
 *   value is used before the rotation timer re-reads it; `0`, the default, means it is never re-read: the
 *   harness models a positive TTL only).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetWebACLCommand, type WAFV2Client } from '@aws-sdk/client-wafv2';
import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
import { acceptedValuesOfRule } from '../../../lambdas/core/waf-rule.ts';
import type { FakeKong, KongRoute } from '../../support/fake-kong.ts';
import {
  get,
  headerValue,
  keepAliveAgent,
  ONLY_HOP_HEADER,
  PIN_KONG_HEADER,
  PIN_UPSTREAM_HEADER,
  PIN_WAF_HEADER,
  reject,
  relay,
  SOURCE_HEADER,
  startLoopbackServer,
  VIEW_HEADER,
  type LoopbackServer,
} from './http.ts';
import { LaggedView, PeriodicView, uniform, ViewHistory } from './periodic.ts';

export interface GatewayOptions {
  waf: { client: WAFV2Client; scope: 'REGIONAL'; name: string; id: string; ruleName: string; nodes: number; propagationMs: number };
  kong: { fake: FakeKong; route: string; nodes: number; propagationMs: number };
  vault: { client: SecretsManagerClient; secretId: string; ttlMs: number; rotationCheckMs: number };
  /** The header checked at the gateway (`X-Origin-Verify`) and the one sent upstream (`x-kong-origin-verify`). */
  headerName: string;
  upstreamHeaderName: string;
  upstreamUrls: string[];
}

type WafView = { kind: 'values'; values: string[] } | { kind: 'no-rule' } | { kind: 'unreadable-rule' };

/** What a request and the checks need from a node's view, whichever model serves it. */
export interface NodeView<T> {
  fresh(): Promise<T>;
  readonly value: T;
  readonly version: number;
  readonly changedAt: number;
  readonly maxServedAgeMs: number;
  stop(): void;
}

interface KongNode {
  route: NodeView<KongRoute | undefined>;
  vault: NodeView<string>;
}

/**
 * Node i of n lags (n - 1 - i) / (n - 1) of the propagation delay: node 0 the whole delay (the slowest a node
 * may be: a product that switches senders early is refused there), the last node none (the quickest: a product
 * that narrows validators early is refused there), the others evenly between. A single node lags the whole delay.
 */
export const nodeLag = (i: number, n: number, propagationMs: number) => (n <= 1 ? propagationMs : (propagationMs * (n - 1 - i)) / (n - 1));
/** How often the WAF, Kong and vault histories are polled, and how recent a poll a request needs (below the delay). */
const WAF_POLL_MS = 100;
const KONG_POLL_MS = 25;
const VAULT_POLL_MS = 200;
/** A request needs a poll started within half the delay: after any write the product has waited the delay for. */
const freshWithin = (propagationMs: number) => propagationMs / 2;

export class Gateway {
  private server?: LoopbackServer;
  private readonly agent: Agent = keepAliveAgent();
  readonly wafNodes: Array<NodeView<WafView>> = [];
  private histories: Array<ViewHistory<unknown>> = [];
  readonly kongNodes: KongNode[] = [];
  /** Set by range scenarios: whether the gateway's security groups let this source address in. */
  sourceCheck?: (address: string) => boolean;
  /** Called when a node's view changed (a WAF node, a Kong node's route or vault): the sweeper listens. */
  onViewChange?: (name: string) => void;
  private next = 0;

  constructor(private readonly options: GatewayOptions) {}

  async start(): Promise<void> {
    const { waf, kong, vault } = this.options;
    const wafHistory = new ViewHistory<WafView>({ name: 'waf', load: () => this.readWebAcl(), pollMs: WAF_POLL_MS });
    const routeHistory = new ViewHistory<KongRoute | undefined>({ name: 'kong-route', load: async () => structuredClone(kong.fake.route(kong.route)), pollMs: KONG_POLL_MS });
    const vaultHistory = new ViewHistory<string>({ name: 'vault', load: () => this.readVault(), pollMs: VAULT_POLL_MS });
    this.histories = [wafHistory, routeHistory, vaultHistory] as Array<ViewHistory<unknown>>;
    await Promise.all(this.histories.map((h) => h.start()));
    for (let i = 0; i < waf.nodes; i++) {
      this.wafNodes.push(
        new LaggedView(wafHistory, {
          name: `waf-node-${i}`,
          lagMs: nodeLag(i, waf.nodes, waf.propagationMs),
          freshWithinMs: freshWithin(waf.propagationMs),
          onChange: (name) => this.onViewChange?.(name),
        }),
      );
    }
    for (let i = 0; i < kong.nodes; i++) {
      this.kongNodes.push({
        route: new LaggedView(routeHistory, {
          name: `kong-node-${i}/route`,
          lagMs: nodeLag(i, kong.nodes, kong.propagationMs),
          freshWithinMs: freshWithin(kong.propagationMs),
          onChange: (name) => this.onViewChange?.(name),
        }),
        // Node 0's vault keeps the old value as long as Kong may (loaded just before the change: ttl, then up to
        // one rotation check); the others re-read on Kong's timer from their own random moment.
        vault:
          i === 0
            ? new LaggedView(vaultHistory, {
                name: `kong-node-${i}/vault`,
                lagMs: vault.ttlMs + vault.rotationCheckMs,
                freshWithinMs: freshWithin(vault.ttlMs + vault.rotationCheckMs),
                onChange: (name) => this.onViewChange?.(name),
              })
            : new PeriodicView({
                name: `kong-node-${i}/vault`,
                load: () => this.readVault(),
                intervalMs: () => vault.rotationCheckMs,
                phaseMs: uniform(0, vault.rotationCheckMs),
                due: (loadedAt, now) => now - loadedAt >= vault.ttlMs,
                maxAgeMs: vault.ttlMs + vault.rotationCheckMs,
                onChange: (name) => this.onViewChange?.(name),
              }),
      });
    }
    await Promise.all(this.kongNodes.map((n) => (n.vault instanceof PeriodicView ? n.vault.start() : undefined)));
    this.server = await startLoopbackServer('gateway', (req, res) => this.handle(req, res));
  }

  get url(): string {
    if (!this.server) throw new Error('gateway not started');
    return this.server.url;
  }

  private async readWebAcl(): Promise<WafView> {
    const { client, scope, name, id, ruleName } = this.options.waf;
    const res = await client.send(new GetWebACLCommand({ Scope: scope, Name: name, Id: id }));
    const rule = res.WebACL?.Rules?.find((r) => r.Name === ruleName);
    if (!rule) return { kind: 'no-rule' };
    const values = acceptedValuesOfRule(rule, this.options.headerName);
    return values ? { kind: 'values', values } : { kind: 'unreadable-rule' };
  }

  private async readVault(): Promise<string> {
    const { client, secretId } = this.options.vault;
    const res = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
    if (!res.SecretString) throw new Error('vault: AWSCURRENT has no string');
    return res.SecretString;
  }

  /** The pinned index (sweeps) or a random one. */
  private index(req: IncomingMessage, header: string, count: number): number {
    const pinned = Number(headerValue(req.headers, header));
    return Number.isInteger(pinned) && pinned >= 0 ? pinned % count : Math.floor(Math.random() * count);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const only = headerValue(req.headers, ONLY_HOP_HEADER);
    if (this.sourceCheck && !only) {
      const source = headerValue(req.headers, SOURCE_HEADER) ?? '';
      if (!this.sourceCheck(source)) return reject(res, 403, 'alb-sg', 'source address not allowed by the security groups');
    }

    const presented = headerValue(req.headers, this.options.headerName);
    const views: string[] = [];
    if (only !== 'kong') {
      const w = this.index(req, PIN_WAF_HEADER, this.wafNodes.length);
      const waf = await this.wafNodes[w].fresh();
      views.push(`waf-${w}@${this.wafNodes[w].version}`);
      if (waf.kind === 'unreadable-rule') return reject(res, 403, 'waf', 'origin-verify rule not in the expected shape', views.join(' '));
      if (waf.kind === 'values' && (presented === undefined || !waf.values.includes(presented))) {
        return reject(res, 403, 'waf', presented === undefined ? 'no header' : 'value not accepted', views.join(' '));
      }
      if (only === 'waf') return this.judged(res, views);
    }

    const k = this.index(req, PIN_KONG_HEADER, this.kongNodes.length);
    const node = this.kongNodes[k];
    const route = await node.route.fresh();
    views.push(`kong-${k}@${node.route.version}`);
    if (!route || !routeMatches(route, path, this.options.headerName, presented)) return reject(res, 404, 'kong', 'no Route matched', views.join(' '));
    if (only === 'kong') return this.judged(res, views);

    const pinned = Number(headerValue(req.headers, PIN_UPSTREAM_HEADER));
    const u = Number.isInteger(pinned) && pinned >= 0 ? pinned % this.options.upstreamUrls.length : this.next++ % this.options.upstreamUrls.length;
    const sent = await node.vault.fresh();
    views.push(`vault-${k}@${node.vault.version}`, `upstream-${u}`);
    const reply = await get(this.agent, `${this.options.upstreamUrls[u]}${path}`, { [this.options.upstreamHeaderName]: sent });
    reply.headers[VIEW_HEADER] = views.join(' ');
    relay(res, reply, 'gateway');
  }

  /** A forged probe judged by one hop only got past it. */
  private judged(res: ServerResponse, views: string[]): void {
    res.writeHead(200, { [VIEW_HEADER]: views.join(' '), 'content-type': 'text/plain' });
    res.end('judged: let in');
  }

  /** Oldest view any node answered a request with, per kind, for the report's sanity line. */
  maxAges(): { wafMs: number; kongRouteMs: number; vaultMs: number } {
    return {
      wafMs: Math.max(0, ...this.wafNodes.map((n) => n.maxServedAgeMs)),
      kongRouteMs: Math.max(0, ...this.kongNodes.map((n) => n.route.maxServedAgeMs)),
      vaultMs: Math.max(0, ...this.kongNodes.map((n) => n.vault.maxServedAgeMs)),
    };
  }

  /** What the nodes hold now (for convergence checks): WAF values, route values, vault values. */
  views(): { waf: WafView[]; routes: Array<string[] | undefined>; vault: string[] } {
    const wanted = this.options.headerName.toLowerCase();
    return {
      waf: this.wafNodes.map((n) => n.value),
      routes: this.kongNodes.map((n) => {
        const headers = n.route.value?.headers ?? {};
        const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted);
        return key ? headers[key] : undefined;
      }),
      vault: this.kongNodes.map((n) => n.vault.value),
    };
  }

  async close(): Promise<void> {
    for (const history of this.histories) history.stop();
    for (const node of this.wafNodes) node.stop();
    for (const node of this.kongNodes) {
      node.route.stop();
      node.vault.stop();
    }
    await this.server?.close();
    this.agent.destroy();
  }
}

/**
 * Kong's router, for what this harness needs: a path prefix and header values (case-insensitive).
 * Not in Kong's OpenAPI documents (they only type `headers` as an object); the route entity's documentation
 * says header names and values are matched case-insensitively unless a value is a `~*` regex
 * (https://developer.konghq.com/gateway/entities/route/#request-headers, and the proxy guide
 * https://docs.konghq.com/gateway/latest/how-kong-works/routing-traffic/#request-headers).
 */
function routeMatches(route: KongRoute, path: string, headerName: string, presented: string | undefined): boolean {
  if (route.paths && !route.paths.some((prefix) => path.startsWith(prefix))) return false;
  for (const [name, values] of Object.entries(route.headers ?? {})) {
    // The harness sends no other header the route could ask for: only the origin-verify one can match.
    if (name.toLowerCase() !== headerName.toLowerCase()) return false;
    if (presented === undefined || !values.some((v) => v.toLowerCase() === presented.toLowerCase())) return false;
  }
  return true;
}
