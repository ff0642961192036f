/**
 * A fake Kong Admin API (routes only) on 127.0.0.1, following Kong 3.x:
 * - `GET /routes` (offset pagination: `size`, `offset`; answer `{ data, next, offset? }`),
 *   `POST /routes`, `GET|PATCH|PUT|DELETE /routes/{id or name}`, each optionally under `/{workspace}`;
 * - PATCH merges top-level fields (a map such as `headers` is replaced whole), PUT replaces the route
 *   (missing fields back to their defaults), as Kong does;
 * - header names are stored exactly as sent: Kong's schema does not normalise them (its router lower-cases
 *   names and values when matching), and it refuses a `host` header;
 * - `Kong-Admin-Token` is checked when `adminToken` is set (401 otherwise), as with RBAC on Kong Enterprise;
 * - unknown route or path: 404 `{"message":"Not found"}`;
 * - `GET /vaults/{prefix}`: the vault entities in `vaults` (by prefix), with Kong's defaults for an `aws`
 *   vault (`ttl` 0: never re-read, `neg_ttl` 0, `resurrect_ttl` 1e8 s).
 */
import { randomUUID } from 'node:crypto';
import { epochSeconds, startFakeHttpServer, type FakeReply, type FakeRequest, type RecordedRequest } from './fake-http.ts';

export interface KongRoute {
  id: string;
  name: string | null;
  created_at: number;
  updated_at: number;
  protocols: string[];
  methods: string[] | null;
  hosts: string[] | null;
  paths: string[] | null;
  headers: Record<string, string[]> | null;
  https_redirect_status_code: number;
  regex_priority: number;
  strip_path: boolean;
  path_handling: string;
  preserve_host: boolean;
  request_buffering: boolean;
  response_buffering: boolean;
  snis: string[] | null;
  sources: unknown[] | null;
  destinations: unknown[] | null;
  tags: string[] | null;
  service: { id: string } | null;
  [field: string]: unknown;
}

export interface FakeKong {
  /** Base URL of the Admin API, e.g. `http://127.0.0.1:40123` (append `/{workspace}` for a workspace). */
  readonly url: string;
  /** Every route by id; `workspaceOf` says which workspace holds it. Mutate freely to arrange a test. */
  readonly routes: Map<string, KongRoute>;
  readonly workspaceOf: Map<string, string>;
  /** Every request received, in order (including refused ones). */
  readonly requests: RecordedRequest[];
  /** Vault entities by prefix (`GET /vaults/{prefix}`); mutate freely. */
  readonly vaults: Map<string, KongVault>;
  /** Adds a vault entity with Kong's defaults for its `config` unless given. */
  addVault(prefix: string, config?: Partial<KongVault['config']>, name?: string): KongVault;
  /** Adds a route with realistic defaults; `workspace` defaults to `default`. */
  addRoute(fields?: Partial<KongRoute>, options?: { workspace?: string }): KongRoute;
  /** The route by id or name (default workspace unless given). */
  route(idOrName: string, workspace?: string): KongRoute | undefined;
  /** `true`: every request fails, with 503 (`mode: 'status'`, default) or a reset connection (`'reset'`). */
  setDown(down: boolean, mode?: 'status' | 'reset'): void;
  /** Answers the next `times` requests (optionally only `method` ones) with `status` and a Kong-style body. */
  failNext(times: number, status: number, options?: { method?: string }): void;
  /** Requests that changed something (POST, PUT, PATCH, DELETE). */
  writes(): RecordedRequest[];
  close(): Promise<void>;
}

export interface KongVault {
  id: string;
  prefix: string;
  name: string;
  description: string | null;
  config: { region?: string; ttl: number | null; neg_ttl: number | null; resurrect_ttl: number | null; [field: string]: unknown };
  created_at: number;
  updated_at: number;
  tags: string[] | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_WORKSPACE = 'default';

/** A route's fields as Kong fills them when they are not given (shared with the fake Konnect). */
export function routeDefaults(): Omit<KongRoute, 'id' | 'created_at' | 'updated_at'> {
  return {
    name: null,
    protocols: ['http', 'https'],
    methods: null,
    hosts: null,
    paths: null,
    headers: null,
    https_redirect_status_code: 426,
    regex_priority: 0,
    strip_path: true,
    path_handling: 'v0',
    preserve_host: false,
    request_buffering: true,
    response_buffering: true,
    snis: null,
    sources: null,
    destinations: null,
    tags: null,
    service: null,
  };
}

/** Kong's answer to a schema violation (400). */
function schemaViolation(fields: Record<string, unknown>): FakeReply {
  const summary = Object.entries(fields)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  return { status: 400, body: { code: 2, name: 'schema violation', message: `schema violation (${summary})`, fields } };
}

/** Every field of Kong 3.x's route schema; Kong refuses any other with `unknown field`. */
const ROUTE_FIELDS = new Set([...Object.keys(routeDefaults()), 'id', 'created_at', 'updated_at', 'expression', 'priority']);

/**
 * The subset of Kong's route validation that matters to header rotation, and unknown fields: Kong answers
 * `400 schema violation (field: unknown field)` for a field its route schema does not have
 * (https://developer.konghq.com/gateway/entities/route/#schema; the Admin API document's body schema is only
 * `type: object`, see test/support/kong-contract.ts).
 */
function validateRoute(route: Record<string, unknown>): FakeReply | undefined {
  const unknown = Object.keys(route).filter((field) => !ROUTE_FIELDS.has(field));
  if (unknown.length > 0) return schemaViolation(Object.fromEntries(unknown.map((field) => [field, 'unknown field'])));
  const headers = route.headers;
  if (headers === null || headers === undefined) return undefined;
  if (typeof headers !== 'object' || Array.isArray(headers)) return schemaViolation({ headers: 'expected a map' });
  const problems: Record<string, string> = {};
  for (const [name, values] of Object.entries(headers as Record<string, unknown>)) {
    if (/^host$/i.test(name)) problems[name] = "cannot contain 'host' header, which must be specified in the 'hosts' attribute";
    else if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) problems[name] = 'bad header name';
    else if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) problems[name] = 'expected an array of strings';
  }
  return Object.keys(problems).length > 0 ? schemaViolation({ headers: problems }) : undefined;
}

const NOT_FOUND: FakeReply = { status: 404, body: { message: 'Not found' } };

export async function startFakeKong(options: { adminToken?: string } = {}): Promise<FakeKong> {
  const routes = new Map<string, KongRoute>();
  const workspaceOf = new Map<string, string>();
  let down: false | 'status' | 'reset' = false;
  let failures: { times: number; status: number; method?: string } | undefined;

  const find = (idOrName: string, workspace: string): KongRoute | undefined => {
    if (UUID.test(idOrName)) {
      const byId = routes.get(idOrName.toLowerCase());
      return byId && workspaceOf.get(byId.id) === workspace ? byId : undefined;
    }
    for (const route of routes.values()) {
      if (route.name === idOrName && workspaceOf.get(route.id) === workspace) return route;
    }
    return undefined;
  };

  const nameTaken = (name: unknown, workspace: string, exceptId?: string): boolean =>
    typeof name === 'string' && [...routes.values()].some((r) => r.name === name && r.id !== exceptId && workspaceOf.get(r.id) === workspace);

  const uniqueViolation = (name: string): FakeReply => ({
    status: 409,
    body: { code: 5, name: 'unique constraint violation', message: `UNIQUE violation detected on '{name="${name}"}'`, fields: { name } },
  });

  const store = (route: KongRoute, workspace: string): KongRoute => {
    routes.set(route.id, route);
    workspaceOf.set(route.id, workspace);
    return route;
  };

  const addRoute = (fields: Partial<KongRoute> = {}, opts: { workspace?: string } = {}): KongRoute => {
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
    return store(route, opts.workspace ?? DEFAULT_WORKSPACE);
  };

  /** Splits `/{workspace}/routes/{x}` into its parts; undefined for paths Kong would not route. */
  const parsePath = (path: string): { workspace: string; idOrName?: string } | undefined => {
    const parts = path.split('/').filter(Boolean);
    let workspace = DEFAULT_WORKSPACE;
    if (parts[0] !== 'routes' && parts[1] === 'routes') workspace = parts.shift()!;
    if (parts[0] !== 'routes' || parts.length > 2) return undefined;
    return { workspace, idOrName: parts[1] };
  };

  const vaults = new Map<string, KongVault>();
  const addVault = (prefix: string, config: Partial<KongVault['config']> = {}, name = 'aws'): KongVault => {
    const now = epochSeconds();
    const vault: KongVault = { id: randomUUID(), prefix, name, description: null, config: { ttl: 0, neg_ttl: 0, resurrect_ttl: 1e8, ...config }, created_at: now, updated_at: now, tags: null };
    vaults.set(prefix, vault);
    return vault;
  };

  const handle = (req: FakeRequest): FakeReply => {
    const vaultPath = /^(?:\/[^/]+)?\/vaults\/([^/]+)$/.exec(req.path);
    if (vaultPath && req.method === 'GET') {
      const vault = vaults.get(decodeURIComponent(vaultPath[1]!));
      return vault ? { status: 200, body: vault } : NOT_FOUND;
    }
    const target = parsePath(req.path);
    if (!target) return NOT_FOUND;
    if (req.badJson) return { status: 400, body: { message: 'Cannot parse JSON body' } };
    const body = (req.body ?? {}) as Record<string, unknown>;
    if ((req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') && (typeof body !== 'object' || Array.isArray(body))) {
      return { status: 400, body: { message: 'Cannot parse JSON body' } };
    }
    const { workspace, idOrName } = target;

    if (idOrName === undefined) {
      if (req.method === 'GET') {
        const all = [...routes.values()].filter((r) => workspaceOf.get(r.id) === workspace).sort((a, b) => a.id.localeCompare(b.id));
        const size = Math.min(Math.max(Number(req.query.size ?? 100) || 100, 1), 1000);
        const start = Number(req.query.offset ?? 0) || 0;
        const page = all.slice(start, start + size);
        const more = start + size < all.length;
        const prefix = workspace === DEFAULT_WORKSPACE ? '' : `/${workspace}`;
        return {
          status: 200,
          body: more ? { data: page, next: `${prefix}/routes?offset=${start + size}&size=${size}`, offset: String(start + size) } : { data: page, next: null },
        };
      }
      if (req.method === 'POST') {
        const invalid = validateRoute(body);
        if (invalid) return invalid;
        if (nameTaken(body.name, workspace)) return uniqueViolation(String(body.name));
        return { status: 201, body: addRoute(body as Partial<KongRoute>, { workspace }) };
      }
      return { status: 405, body: { message: 'Method not allowed' } };
    }

    const existing = find(idOrName, workspace);
    switch (req.method) {
      case 'GET':
        return existing ? { status: 200, body: existing } : NOT_FOUND;
      case 'DELETE':
        if (existing) {
          routes.delete(existing.id);
          workspaceOf.delete(existing.id);
        }
        return { status: 204 };
      case 'PATCH': {
        if (!existing) return NOT_FOUND;
        const invalid = validateRoute(body);
        if (invalid) return invalid;
        if (nameTaken(body.name, workspace, existing.id)) return uniqueViolation(String(body.name));
        const { id: _id, created_at: _c, ...changes } = body;
        const updated: KongRoute = { ...existing, ...structuredClone(changes), id: existing.id, created_at: existing.created_at, updated_at: epochSeconds() };
        return { status: 200, body: store(updated, workspace) };
      }
      case 'PUT': {
        const invalid = validateRoute(body);
        if (invalid) return invalid;
        const id = existing?.id ?? (UUID.test(idOrName) ? idOrName.toLowerCase() : randomUUID());
        const name = UUID.test(idOrName) ? (body.name ?? null) : idOrName;
        if (nameTaken(name, workspace, id)) return uniqueViolation(String(name));
        const now = epochSeconds();
        const { id: _id, created_at: _c, updated_at: _u, ...fields } = body;
        const replaced: KongRoute = {
          ...routeDefaults(),
          ...structuredClone(fields),
          name: (name as string | null) ?? null,
          id,
          created_at: existing?.created_at ?? now,
          updated_at: now,
        } as KongRoute;
        return { status: 200, body: store(replaced, workspace) };
      }
      default:
        return { status: 405, body: { message: 'Method not allowed' } };
    }
  };

  const server = await startFakeHttpServer(handle, {
    beforeHandle: (req) => {
      if (down === 'reset') return 'reset';
      if (down === 'status') return { status: 503, body: { message: 'Service Unavailable' } };
      if (options.adminToken !== undefined && req.headers['kong-admin-token'] !== options.adminToken) {
        return { status: 401, body: { message: 'Invalid RBAC credentials. Token or User credentials required' } };
      }
      if (failures && failures.times > 0 && (!failures.method || failures.method === req.method)) {
        failures.times -= 1;
        const status = failures.status;
        return { status, body: { message: status === 429 ? 'API rate limit exceeded' : 'An unexpected error occurred' } };
      }
      return undefined;
    },
  });

  return {
    url: server.url,
    routes,
    workspaceOf,
    requests: server.requests,
    vaults,
    addVault,
    addRoute,
    route: (idOrName, workspace = DEFAULT_WORKSPACE) => find(idOrName, workspace),
    setDown: (value, mode = 'status') => {
      down = value ? mode : false;
    },
    failNext: (times, status, opts = {}) => {
      failures = { times, status, method: opts.method };
    },
    writes: () => server.requests.filter((r) => r.method !== 'GET'),
    close: () => server.close(),
  };
}
