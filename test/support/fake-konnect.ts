/**
 * A fake Kong Konnect API on 127.0.0.1 (regional and global endpoints on one server), following the public
 * Konnect API v2 (https://developer.konghq.com/api/):
 * - Config Store secrets: `POST /v2/control-planes/{cp}/config-stores/{cs}/secrets`,
 *   `GET|PUT|DELETE .../secrets/{key}`. Values are write-only, as in Konnect: responses carry `key`,
 *   `created_at`, `updated_at`, never `value` (read them in a test from `configStoreSecrets`).
 * - Control-plane routes: `GET|POST /v2/control-planes/{cp}/core-entities/routes`,
 *   `GET|PUT|DELETE .../routes/{id or name}`. Konnect has no PATCH there: it answers 405.
 * - Cloud gateways: `GET /v2/cloud-gateways/configurations` (`filter[control_plane_id]`,
 *   `filter[control_plane_geo]` with `eq` / `neq` / `oeq`, `page[size]`, `page[number]`),
 *   `GET /v2/cloud-gateways/networks/{id}`, `GET /v2/cloud-gateways/networks/{id}/transit-gateways`.
 * - `Authorization: Bearer <token>`; errors are `application/problem+json` (`status`, `title`, `type`,
 *   `instance`, `detail`), core-entity errors Konnect-style `{ code, message, details }`.
 */
import { randomUUID } from 'node:crypto';
import { epochSeconds, startFakeHttpServer, type FakeReply, type FakeRequest, type RecordedRequest } from './fake-http.ts';
import { routeDefaults, type KongRoute } from './fake-kong.ts';

// ---------- entity shapes (snake_case, as on the wire) ----------

export interface KonnectDataPlaneGroup {
  id: string;
  provider: 'aws' | 'azure' | 'gcp' | string;
  region: string;
  autoscale: Record<string, unknown>;
  environment?: Array<{ name: string; value: string }>;
  cloud_gateway_network_id: string;
  state: 'created' | 'initializing' | 'ready' | 'terminating' | 'terminated' | string;
  state_metadata?: { reported_status?: string; reason?: string };
  private_ip_addresses?: string[];
  egress_ip_addresses?: string[];
  created_at: string;
  updated_at: string;
}

export interface KonnectConfiguration {
  id: string;
  version?: string;
  api_access?: string;
  kind?: string;
  dataplane_group_config: Array<Record<string, unknown>>;
  dataplane_groups: KonnectDataPlaneGroup[];
  entity_version: number;
  created_at: string;
  updated_at: string;
  control_plane_id: string;
  control_plane_geo: string;
}

export interface KonnectNetwork {
  id: string;
  name: string;
  default: boolean;
  cloud_gateway_provider_account_id: string;
  region: string;
  availability_zones: string[];
  cidr_block: string;
  state: 'created' | 'initializing' | 'offline' | 'ready' | 'terminating' | 'terminated' | string;
  state_metadata?: { reported_status?: string; reason?: string };
  provider_metadata: { vpc_id?: string; subnet_ids?: string[] };
  transit_gateway_count: number;
  configuration_reference_count: number;
  entity_version: number;
  created_at: string;
  updated_at: string;
}

export interface KonnectTransitGateway {
  id: string;
  name: string;
  cidr_blocks?: string[];
  dns_config: Array<{ remote_dns_server_ip_addresses: string[]; domain_proxy_list: string[] }>;
  transit_gateway_attachment_config: { kind: string; [field: string]: unknown };
  state: 'created' | 'initializing' | 'pending-acceptance' | 'pending-user-action' | 'ready' | 'terminating' | 'terminated' | 'error' | string;
  state_metadata?: { reported_status?: string; reason?: string };
  entity_version: number;
  created_at: string;
  updated_at: string;
}

export interface KonnectConfigStoreSecret {
  key: string;
  value: string;
  created_at: string;
  updated_at: string;
}

// ---------- builders with realistic defaults ----------

const iso = () => new Date().toISOString();

/** Now, but strictly after `previous`: Konnect's `updated_at` always moves on a write. */
function laterThan(previous: string | undefined): string {
  const at = Math.max(Date.now(), previous ? Date.parse(previous) + 1 : 0);
  return new Date(at).toISOString();
}

export function konnectConfiguration(options: {
  controlPlaneId?: string;
  controlPlaneGeo?: string;
  /** One data-plane group per entry. */
  groups?: Array<{ networkId?: string; region?: string; egress?: string[]; state?: string; provider?: string }>;
  id?: string;
}): KonnectConfiguration {
  const now = iso();
  const groups = (options.groups ?? [{}]).map((g): KonnectDataPlaneGroup => ({
    id: randomUUID(),
    provider: g.provider ?? 'aws',
    region: g.region ?? 'us-east-2',
    autoscale: { kind: 'autopilot', base_rps: 100, max_rps: 1000 },
    environment: [{ name: 'KONG_LOG_LEVEL', value: 'info' }],
    cloud_gateway_network_id: g.networkId ?? randomUUID(),
    state: g.state ?? 'ready',
    private_ip_addresses: ['192.168.248.132', '192.168.66.81'],
    egress_ip_addresses: g.egress ?? ['71.78.149.75', '91.149.112.244', '51.235.15.121'],
    created_at: now,
    updated_at: now,
  }));
  return {
    id: options.id ?? randomUUID(),
    version: '3.9',
    api_access: 'private+public',
    kind: 'dedicated.v0',
    dataplane_group_config: groups.map((g) => ({
      provider: g.provider,
      region: g.region,
      cloud_gateway_network_id: g.cloud_gateway_network_id,
      autoscale: g.autoscale,
    })),
    dataplane_groups: groups,
    entity_version: 1,
    created_at: now,
    updated_at: now,
    control_plane_id: options.controlPlaneId ?? randomUUID(),
    control_plane_geo: options.controlPlaneGeo ?? 'us',
  };
}

export function konnectNetwork(options: { id?: string; name?: string; state?: string; region?: string; cidrBlock?: string; reason?: string } = {}): KonnectNetwork {
  const now = iso();
  return {
    id: options.id ?? randomUUID(),
    name: options.name ?? 'us-east-2 network',
    default: false,
    cloud_gateway_provider_account_id: randomUUID(),
    region: options.region ?? 'us-east-2',
    availability_zones: ['use2-az1', 'use2-az2', 'use2-az3'],
    cidr_block: options.cidrBlock ?? '10.0.0.0/8',
    state: options.state ?? 'ready',
    ...(options.reason ? { state_metadata: { reported_status: 'ERROR', reason: options.reason } } : {}),
    provider_metadata: { vpc_id: 'vpc-0a1b2c3d4e5f60718', subnet_ids: ['subnet-0a1b2c3d', 'subnet-1a2b3c4d'] },
    transit_gateway_count: 0,
    configuration_reference_count: 1,
    entity_version: 1,
    created_at: now,
    updated_at: now,
  };
}

export function konnectTransitGateway(options: {
  id?: string;
  name?: string;
  state?: string;
  cidrBlocks?: string[];
  transitGatewayId?: string;
  attachmentId?: string;
  reason?: string;
} = {}): KonnectTransitGateway {
  const now = iso();
  return {
    id: options.id ?? randomUUID(),
    name: options.name ?? 'us-east-2 transit gateway',
    cidr_blocks: options.cidrBlocks ?? ['10.0.0.0/8'],
    dns_config: [],
    transit_gateway_attachment_config: {
      kind: 'aws-transit-gateway-attachment',
      transit_gateway_id: options.transitGatewayId ?? 'tgw-0123456789abcdef0',
      ram_share_arn: 'arn:aws:ram:us-east-2:123456789012:resource-share/7ef5c1a4-0000-4000-8000-000000000000',
      ...(options.attachmentId ? { attachment_id: options.attachmentId } : {}),
    },
    state: options.state ?? 'ready',
    ...(options.reason ? { state_metadata: { reported_status: 'ERROR', reason: options.reason } } : {}),
    entity_version: 1,
    created_at: now,
    updated_at: now,
  };
}

// ---------- the fake ----------

export interface FakeKonnect {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Config Store secrets by `${controlPlaneId}/${configStoreId}/${key}` (values visible here only). */
  readonly configStoreSecrets: Map<string, KonnectConfigStoreSecret>;
  /** Routes by id; `controlPlaneOf` says which control plane holds each. */
  readonly routes: Map<string, KongRoute>;
  readonly controlPlaneOf: Map<string, string>;
  /** Registers a Config Store (writes to an unknown one answer 404). */
  addConfigStore(controlPlaneId: string, configStoreId: string): void;
  /** Seeds a secret directly (bypassing the API). */
  setConfigStoreSecret(controlPlaneId: string, configStoreId: string, key: string, value: string): void;
  configStoreSecret(controlPlaneId: string, configStoreId: string, key: string): KonnectConfigStoreSecret | undefined;
  addRoute(controlPlaneId: string, fields?: Partial<KongRoute>): KongRoute;
  route(controlPlaneId: string, idOrName: string): KongRoute | undefined;
  setConfigurations(configurations: KonnectConfiguration[]): void;
  setNetwork(network: KonnectNetwork): void;
  removeNetwork(networkId: string): void;
  setTransitGateways(networkId: string, transitGateways: KonnectTransitGateway[]): void;
  /** Answers the next `times` matching requests with `status` (problem+json), with `Retry-After` when given. */
  failNext(times: number, status: number, options?: { retryAfter?: string; pathIncludes?: string; method?: string }): void;
  /** Answers the next `times` matching requests with exactly this reply (malformed shapes, odd statuses). */
  respondNext(times: number, reply: FakeReply, options?: { pathIncludes?: string; method?: string }): void;
  /** Drops faults queued by failNext / respondNext that were not consumed. */
  clearFaults(): void;
  /** `true`: every request is reset (connection refused/reset, as when Konnect is unreachable). */
  setDown(down: boolean): void;
  setToken(token: string): void;
  writes(): RecordedRequest[];
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PROBLEM_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export function problem(status: number, detail: string, extra: Record<string, unknown> = {}): FakeReply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: {
      status,
      title: PROBLEM_TITLES[status] ?? 'Error',
      type: `https://httpstatuses.com/${status}`,
      instance: `kong:trace:${Math.floor(Math.random() * 1e18)}`,
      detail,
      ...extra,
    },
  };
}

function paginate<T>(items: T[], query: Record<string, string>): FakeReply {
  const size = Math.min(Math.max(Number(query['page[size]'] ?? 10) || 10, 1), 100);
  const number = Math.max(Number(query['page[number]'] ?? 1) || 1, 1);
  const data = items.slice((number - 1) * size, number * size);
  return { status: 200, body: { meta: { page: { number, size, total: items.length } }, data } };
}

/** Konnect's deepObject filters: `filter[field]`, `filter[field][eq|neq|oeq]`. */
function filterMatches(query: Record<string, string>, field: string, actual: string): boolean | 'bad' {
  for (const [param, expected] of Object.entries(query)) {
    const m = /^filter\[([a-z_]+)\](?:\[([a-z]+)\])?$/.exec(param);
    if (!m || m[1] !== field) continue;
    const op = m[2] ?? 'eq';
    if (op === 'eq' && actual !== expected) return false;
    if (op === 'neq' && actual === expected) return false;
    if (op === 'oeq' && !expected.split(',').includes(actual)) return false;
    if (!['eq', 'neq', 'oeq'].includes(op)) return 'bad';
  }
  return true;
}

export async function startFakeKonnect(options: { token: string }): Promise<FakeKonnect> {
  let token = options.token;
  let down = false;
  const configStores = new Set<string>();
  const configStoreSecrets = new Map<string, KonnectConfigStoreSecret>();
  const routes = new Map<string, KongRoute>();
  const controlPlaneOf = new Map<string, string>();
  let configurations: KonnectConfiguration[] = [];
  const networks = new Map<string, KonnectNetwork>();
  const transitGateways = new Map<string, KonnectTransitGateway[]>();

  const secretView = (s: KonnectConfigStoreSecret) => ({ key: s.key, created_at: s.created_at, updated_at: s.updated_at });

  const findRoute = (cp: string, idOrName: string) => {
    for (const route of routes.values()) {
      if (controlPlaneOf.get(route.id) !== cp) continue;
      if (UUID.test(idOrName) ? route.id === idOrName.toLowerCase() : route.name === idOrName) return route;
    }
    return undefined;
  };

  const addRoute = (cp: string, fields: Partial<KongRoute> = {}): KongRoute => {
    const now = epochSeconds();
    const route: KongRoute = {
      ...routeDefaults(),
      paths: ['/'],
      service: { id: randomUUID() },
      ...structuredClone(fields),
      id: (fields.id ?? randomUUID()).toLowerCase(),
      created_at: fields.created_at ?? now,
      updated_at: fields.updated_at ?? now,
    } as KongRoute;
    routes.set(route.id, route);
    controlPlaneOf.set(route.id, cp);
    return route;
  };

  const coreEntityError = (status: number, code: number, message: string): FakeReply => ({ status, body: { code, message, details: [] } });

  const handleConfigStore = (req: FakeRequest, cp: string, cs: string, key: string | undefined): FakeReply => {
    if (!configStores.has(`${cp}/${cs}`)) return problem(404, 'Config store not found');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const validValue = (v: unknown) => typeof v === 'string' && v.length >= 1 && v.length <= 5120;
    if (key === undefined) {
      if (req.method === 'GET') {
        const data = [...configStoreSecrets.entries()].filter(([k]) => k.startsWith(`${cp}/${cs}/`)).map(([, s]) => secretView(s));
        return { status: 200, body: { data, meta: { page: { size: data.length, next: null, previous: null } } } };
      }
      if (req.method === 'POST') {
        if (typeof body.key !== 'string' || body.key.length === 0 || !validValue(body.value)) {
          return problem(400, 'Invalid request', { invalid_parameters: [{ field: 'value', rule: 'required', reason: 'is a required field', source: 'body' }] });
        }
        const id = `${cp}/${cs}/${body.key}`;
        if (configStoreSecrets.has(id)) return problem(409, 'Config store secret already exists');
        const now = iso();
        const secret = { key: body.key, value: body.value as string, created_at: now, updated_at: now };
        configStoreSecrets.set(id, secret);
        return { status: 201, body: secretView(secret) };
      }
      return problem(405, 'Method not allowed');
    }
    const id = `${cp}/${cs}/${key}`;
    const existing = configStoreSecrets.get(id);
    switch (req.method) {
      case 'GET':
        return existing ? { status: 200, body: secretView(existing) } : problem(404, 'Config store secret not found');
      case 'PUT': {
        if (req.badJson || !validValue(body.value)) {
          return problem(400, 'Invalid request', { invalid_parameters: [{ field: 'value', rule: 'required', reason: 'is a required field', source: 'body' }] });
        }
        const now = laterThan(existing?.updated_at);
        const secret = { key, value: body.value as string, created_at: existing?.created_at ?? now, updated_at: now };
        configStoreSecrets.set(id, secret);
        return { status: existing ? 200 : 201, body: secretView(secret) };
      }
      case 'DELETE':
        if (!existing) return problem(404, 'Config store secret not found');
        configStoreSecrets.delete(id);
        return { status: 204 };
      default:
        return problem(405, 'Method not allowed');
    }
  };

  const handleRoutes = (req: FakeRequest, cp: string, idOrName: string | undefined): FakeReply => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (req.badJson || (req.body !== undefined && (typeof req.body !== 'object' || Array.isArray(req.body)))) {
      return coreEntityError(400, 3, 'invalid JSON body');
    }
    if (idOrName === undefined) {
      if (req.method === 'GET') {
        const data = [...routes.values()].filter((r) => controlPlaneOf.get(r.id) === cp);
        return { status: 200, body: { data, next: null } };
      }
      if (req.method === 'POST') return { status: 201, body: addRoute(cp, body as Partial<KongRoute>) };
      return coreEntityError(405, 12, 'method not allowed');
    }
    const existing = findRoute(cp, idOrName);
    switch (req.method) {
      case 'GET':
        return existing ? { status: 200, body: existing } : coreEntityError(404, 5, 'not found');
      case 'PUT': {
        const { id: _id, created_at: _c, updated_at: _u, ...fields } = body;
        const id = existing?.id ?? (UUID.test(idOrName) ? idOrName.toLowerCase() : randomUUID());
        const replaced = addRoute(cp, {
          ...(fields as Partial<KongRoute>),
          id,
          name: (UUID.test(idOrName) ? (fields.name as string | undefined) : idOrName) ?? null,
          created_at: existing?.created_at,
        });
        replaced.updated_at = epochSeconds();
        return { status: 200, body: replaced };
      }
      case 'DELETE':
        if (existing) {
          routes.delete(existing.id);
          controlPlaneOf.delete(existing.id);
        }
        return { status: 204 };
      default:
        // The Konnect API documents GET, PUT (upsert) and DELETE for a route, no PATCH.
        return coreEntityError(405, 12, 'method not allowed');
    }
  };

  const handleCloudGateways = (req: FakeRequest, parts: string[]): FakeReply | undefined => {
    if (req.method !== 'GET') return problem(405, 'Method not allowed');
    if (parts.length === 1 && parts[0] === 'configurations') {
      for (const param of Object.keys(req.query)) {
        if (param.startsWith('filter[') && !/^filter\[(control_plane_id|control_plane_geo)\](\[(eq|neq|oeq)\])?$/.test(param)) {
          return problem(400, 'Invalid filter', { invalid_parameters: [{ field: param, rule: 'unknown_property', reason: 'is not a supported filter', source: 'query' }] });
        }
      }
      const matching = configurations.filter(
        (c) => filterMatches(req.query, 'control_plane_id', c.control_plane_id) === true && filterMatches(req.query, 'control_plane_geo', c.control_plane_geo) === true,
      );
      return paginate(matching, req.query);
    }
    if (parts[0] === 'networks' && parts[1]) {
      const network = networks.get(parts[1]);
      if (!network) return problem(404, 'Network not found');
      if (parts.length === 2) return { status: 200, body: network };
      if (parts.length === 3 && parts[2] === 'transit-gateways') return paginate(transitGateways.get(parts[1]) ?? [], req.query);
    }
    return undefined;
  };

  const handle = (req: FakeRequest): FakeReply | undefined => {
    const parts = req.path.split('/').filter(Boolean);
    if (parts[0] !== 'v2') return problem(404, 'Not found');
    if (parts[1] === 'control-planes' && parts[2]) {
      const cp = parts[2];
      if (parts[3] === 'config-stores' && parts[4] && parts[5] === 'secrets' && parts.length <= 7) return handleConfigStore(req, cp, parts[4], parts[6]);
      if (parts[3] === 'core-entities' && parts[4] === 'routes' && parts.length <= 6) return handleRoutes(req, cp, parts[5]);
    }
    if (parts[1] === 'cloud-gateways') return handleCloudGateways(req, parts.slice(2)) ?? problem(404, 'Not found');
    return problem(404, 'Not found');
  };

  const server = await startFakeHttpServer(handle, {
    beforeHandle: (req) => {
      if (down) return 'reset';
      if (req.headers.authorization !== `Bearer ${token}`) return problem(401, 'Invalid credentials');
      return undefined;
    },
  });

  return {
    url: server.url,
    requests: server.requests,
    configStoreSecrets,
    routes,
    controlPlaneOf,
    addConfigStore: (cp, cs) => void configStores.add(`${cp}/${cs}`),
    setConfigStoreSecret: (cp, cs, key, value) => {
      configStores.add(`${cp}/${cs}`);
      const existing = configStoreSecrets.get(`${cp}/${cs}/${key}`);
      const now = laterThan(existing?.updated_at);
      configStoreSecrets.set(`${cp}/${cs}/${key}`, { key, value, created_at: existing?.created_at ?? now, updated_at: now });
    },
    configStoreSecret: (cp, cs, key) => configStoreSecrets.get(`${cp}/${cs}/${key}`),
    addRoute,
    route: findRoute,
    setConfigurations: (list) => {
      configurations = structuredClone(list);
    },
    setNetwork: (network) => void networks.set(network.id, structuredClone(network)),
    removeNetwork: (id) => void networks.delete(id),
    setTransitGateways: (networkId, list) => {
      transitGateways.set(networkId, structuredClone(list));
      const network = networks.get(networkId);
      if (network) network.transit_gateway_count = list.length;
    },
    failNext: (times, status, opts = {}) => {
      const reply = problem(status, status === 429 ? 'Rate limit exceeded' : 'Upstream error');
      if (opts.retryAfter !== undefined) reply.headers = { ...reply.headers, 'retry-after': opts.retryAfter };
      server.addFault({ times, reply, pathIncludes: opts.pathIncludes, method: opts.method });
    },
    respondNext: (times, reply, opts = {}) => server.addFault({ times, reply, pathIncludes: opts.pathIncludes, method: opts.method }),
    clearFaults: () => server.clearFaults(),
    setDown: (value) => {
      down = value;
    },
    setToken: (value) => {
      token = value;
    },
    writes: () => server.requests.filter((r) => r.method !== 'GET'),
    close: () => server.close(),
  };
}
