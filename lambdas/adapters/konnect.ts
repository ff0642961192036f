/**
 * Kong Konnect API v2: Config Store secrets (a Kong vault backend), and the Cloud Gateways reads that the
 * IP range reconciler (egress IPs) and the audit (networks, transit gateways) need.
 *
 * Konnect serves control-plane APIs (`/v2/control-planes/...`) on the regional host
 * `https://{region}.api.konghq.com` and Cloud Gateways on `https://global.api.konghq.com`: build one client
 * per base URL.
 */
import { isIP } from 'node:net';
import '../zod-english.ts';
import * as z from 'zod/mini';
import { TargetError } from '../core/errors.ts';
import { defaultHttpSettings, HttpUnreachableError, requestJson, safeUrl, type HttpSettings, type JsonResponse } from './http-json.ts';

export const KONNECT_GLOBAL_API_URL = 'https://global.api.konghq.com';

/** `us` → `https://us.api.konghq.com`; `global` → the global API (Cloud Gateways). */
export function konnectBaseUrl(region: string): string {
  if (!/^[a-z]{2,10}$/.test(region)) throw new Error(`"${region}" is not a Konnect region such as us, eu, au, me, in, sg or global`);
  return `https://${region}.api.konghq.com`;
}

/** Whether a URL points at Konnect (`*.api.konghq.com`), which takes a bearer token. */
export function isKonnectUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host === 'api.konghq.com' || host.endsWith('.api.konghq.com');
  } catch {
    return false;
  }
}

// ---------- results ----------

export interface ConfigStoreSecretInfo {
  key: string;
  createdAt?: string;
  updatedAt?: string;
  /** Konnect never returns stored values; present only if an API version ever does. */
  value?: string;
}

export interface CloudGatewayDataPlaneGroup {
  id?: string;
  provider: string;
  region: string;
  /** Absent for serverless gateways. */
  cloudGatewayNetworkId?: string;
  /** `created`, `initializing`, `ready`, `terminating`, `terminated`, or a newer value. */
  state: string;
  egressIpAddresses: string[];
  privateIpAddresses: string[];
}

export interface CloudGatewayConfiguration {
  id: string;
  controlPlaneId: string;
  controlPlaneGeo: string;
  kind?: string;
  dataplaneGroups: CloudGatewayDataPlaneGroup[];
  /** Union of the groups' egress IP addresses, sorted, without duplicates. */
  egressIpAddresses: string[];
}

export interface CloudGatewayConfigurationFilter {
  /** Server-side `filter[control_plane_id][eq|oeq]`. */
  controlPlaneId?: string | string[];
  /** Server-side `filter[control_plane_geo][eq]`, e.g. `us`. */
  controlPlaneGeo?: string;
  /** Client-side: keep only data-plane groups on this network (the API has no such filter). */
  cloudGatewayNetworkId?: string;
}

export interface CloudGatewayNetwork {
  id: string;
  name: string;
  /** `created`, `initializing`, `offline`, `ready`, `terminating`, `terminated`, or a newer value. */
  state: string;
  region: string;
  cidrBlock?: string;
  /** Konnect's reason when the network is in an erroneous state. */
  stateReason?: string;
  transitGatewayCount?: number;
  vpcId?: string;
}

export interface CloudGatewayTransitGateway {
  id: string;
  name: string;
  /** `created`, `initializing`, `pending-acceptance`, `pending-user-action`, `ready`, `terminating`, `terminated`, `error`, ... */
  state: string;
  stateReason?: string;
  /** Attachment kind, e.g. `aws-transit-gateway-attachment`, `aws-vpc-peering-attachment`. */
  kind?: string;
  cidrBlocks: string[];
  /** AWS transit gateway id (`tgw-...`) for AWS transit gateway attachments. */
  awsTransitGatewayId?: string;
  /** AWS attachment id (`tgw-attach-...`) once Konnect reports it. */
  awsAttachmentId?: string;
}

// ---------- errors ----------

/** A Konnect call failed; names the endpoint and status, never the token or a secret value. */
export class KonnectApiError extends TargetError {
  override name = 'KonnectApiError';
  constructor(
    target: string,
    /** e.g. `GET /v2/cloud-gateways/networks/{networkId}` */
    readonly endpoint: string,
    /** HTTP status; undefined when Konnect could not be reached or answered garbage. */
    readonly status: number | undefined,
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(target, message, options);
  }
}

// ---------- response schemas (only what we use; unknown fields pass) ----------

const ipOrCidr = z.string().check(z.refine((s) => isIP(s.split('/')[0]) !== 0, 'must be an IP address or CIDR'));
const stateMetadata = z.nullable(z.optional(z.looseObject({ reported_status: z.optional(z.string()), reason: z.optional(z.string()) })));

const ConfigStoreSecretSchema = z.looseObject({
  key: z.string(),
  value: z.optional(z.string()),
  created_at: z.optional(z.string()),
  updated_at: z.optional(z.string()),
});

const DataPlaneGroupSchema = z.looseObject({
  id: z.optional(z.string()),
  provider: z.string(),
  region: z.string(),
  cloud_gateway_network_id: z.nullable(z.optional(z.string())),
  state: z.string(),
  egress_ip_addresses: z.nullable(z.optional(z.array(ipOrCidr))),
  private_ip_addresses: z.nullable(z.optional(z.array(z.string()))),
});

const ConfigurationSchema = z.looseObject({
  id: z.string(),
  control_plane_id: z.string(),
  control_plane_geo: z.string(),
  kind: z.optional(z.string()),
  dataplane_groups: z.array(DataPlaneGroupSchema),
});

const PageMetaSchema = z.looseObject({ page: z.looseObject({ number: z.number(), size: z.number(), total: z.number() }) });

const ListConfigurationsSchema = z.looseObject({ meta: PageMetaSchema, data: z.array(ConfigurationSchema) });

const NetworkSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  state: z.string(),
  region: z.string(),
  cidr_block: z.optional(z.string()),
  state_metadata: stateMetadata,
  transit_gateway_count: z.optional(z.number()),
  provider_metadata: z.nullable(z.optional(z.looseObject({ vpc_id: z.nullable(z.optional(z.string())) }))),
});

const TransitGatewaySchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  state: z.string(),
  state_metadata: stateMetadata,
  cidr_blocks: z.nullable(z.optional(z.array(z.string()))),
  transit_gateway_attachment_config: z.nullable(
    z.optional(
      z.looseObject({
        kind: z.optional(z.string()),
        transit_gateway_id: z.optional(z.string()),
        attachment_id: z.optional(z.string()),
      }),
    ),
  ),
});

const ListTransitGatewaysSchema = z.looseObject({ meta: PageMetaSchema, data: z.array(TransitGatewaySchema) });

const ProblemSchema = z.looseObject({
  title: z.optional(z.string()),
  detail: z.optional(z.string()),
  message: z.optional(z.string()),
});

// ---------- the client ----------

export interface KonnectClientOptions {
  /** e.g. `https://us.api.konghq.com` or KONNECT_GLOBAL_API_URL. */
  baseUrl: string;
  /** A personal or system-account access token; called per request, so cache it in the caller. */
  token: () => Promise<string>;
  fetch?: typeof fetch;
  /** Per attempt; default 10 000. */
  timeoutMs?: number;
  /** Attempts in all on 429 / 5xx / connection errors; default 3. */
  maxAttempts?: number;
  /** Cap on one wait between attempts (Retry-After included); default 5 000. */
  maxRetryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const PAGE_SIZE = 100;
const MAX_PAGES = 50;

export class KonnectClient {
  readonly baseUrl: string;
  private readonly target: string;
  private readonly http: HttpSettings;
  private readonly token: () => Promise<string>;

  constructor(options: KonnectClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    let host = this.baseUrl;
    try {
      host = new URL(this.baseUrl).host;
    } catch {
      throw new Error(`Konnect base URL "${safeUrl(options.baseUrl)}" is not a URL`);
    }
    this.target = `konnect(${host})`;
    this.token = options.token;
    this.http = defaultHttpSettings({
      fetch: options.fetch,
      timeoutMs: options.timeoutMs,
      maxAttempts: options.maxAttempts,
      maxRetryDelayMs: options.maxRetryDelayMs,
      sleep: options.sleep,
    });
  }

  /**
   * Writes a Config Store secret (create or update). Konnect's PUT upserts; if an API version refuses to
   * create with PUT (404), it is created with POST.
   */
  async putConfigStoreSecret(controlPlaneId: string, configStoreId: string, key: string, value: string): Promise<ConfigStoreSecretInfo> {
    const base = `/v2/control-planes/${seg(controlPlaneId)}/config-stores/${seg(configStoreId)}/secrets`;
    const putEndpoint = 'PUT /v2/control-planes/{controlPlaneId}/config-stores/{configStoreId}/secrets/{key}';
    const put = await this.call('PUT', `${base}/${seg(key)}`, putEndpoint, { body: { value }, idempotent: true, sensitive: [value] });
    if (put.status === 404) {
      const postEndpoint = 'POST /v2/control-planes/{controlPlaneId}/config-stores/{configStoreId}/secrets';
      const post = await this.call('POST', base, postEndpoint, { body: { key, value }, idempotent: false, sensitive: [value] });
      if (post.status === 404) {
        throw this.statusError(postEndpoint, post, `Config Store ${configStoreId} of control plane ${controlPlaneId} was not found: check configStoreId and controlPlaneId`);
      }
      return this.secretInfo(postEndpoint, this.expectOk(postEndpoint, post));
    }
    return this.secretInfo(putEndpoint, this.expectOk(putEndpoint, put));
  }

  /** The secret's metadata (Konnect never returns the value itself); undefined when there is no such key. */
  async getConfigStoreSecret(controlPlaneId: string, configStoreId: string, key: string): Promise<ConfigStoreSecretInfo | undefined> {
    const endpoint = 'GET /v2/control-planes/{controlPlaneId}/config-stores/{configStoreId}/secrets/{key}';
    const res = await this.call('GET', `/v2/control-planes/${seg(controlPlaneId)}/config-stores/${seg(configStoreId)}/secrets/${seg(key)}`, endpoint, {
      idempotent: true,
    });
    if (res.status === 404) return undefined;
    return this.secretInfo(endpoint, this.expectOk(endpoint, res));
  }

  /** Cloud Gateway configurations with their data-plane groups' egress IPs (all pages). */
  async listCloudGatewayConfigurations(filter: CloudGatewayConfigurationFilter = {}): Promise<CloudGatewayConfiguration[]> {
    const endpoint = 'GET /v2/cloud-gateways/configurations';
    const query = new URLSearchParams();
    if (typeof filter.controlPlaneId === 'string') query.set('filter[control_plane_id][eq]', filter.controlPlaneId);
    else if (filter.controlPlaneId && filter.controlPlaneId.length > 0) query.set('filter[control_plane_id][oeq]', filter.controlPlaneId.join(','));
    if (filter.controlPlaneGeo) query.set('filter[control_plane_geo][eq]', filter.controlPlaneGeo);
    const items = await this.allPages('/v2/cloud-gateways/configurations', query, endpoint, ListConfigurationsSchema);
    return items.map((c) => {
      const groups = c.dataplane_groups
        .filter((g) => !filter.cloudGatewayNetworkId || g.cloud_gateway_network_id === filter.cloudGatewayNetworkId)
        .map(
          (g): CloudGatewayDataPlaneGroup => ({
            id: g.id,
            provider: g.provider,
            region: g.region,
            cloudGatewayNetworkId: g.cloud_gateway_network_id ?? undefined,
            state: g.state,
            egressIpAddresses: [...(g.egress_ip_addresses ?? [])],
            privateIpAddresses: [...(g.private_ip_addresses ?? [])],
          }),
        );
      return {
        id: c.id,
        controlPlaneId: c.control_plane_id,
        controlPlaneGeo: c.control_plane_geo,
        kind: c.kind,
        dataplaneGroups: groups,
        egressIpAddresses: [...new Set(groups.flatMap((g) => g.egressIpAddresses))].sort(),
      };
    });
  }

  /** A Cloud Gateway network; undefined when Konnect does not know it (404). */
  async getNetwork(networkId: string): Promise<CloudGatewayNetwork | undefined> {
    const endpoint = 'GET /v2/cloud-gateways/networks/{networkId}';
    const res = await this.call('GET', `/v2/cloud-gateways/networks/${seg(networkId)}`, endpoint, { idempotent: true });
    if (res.status === 404) return undefined;
    const n = this.parse(endpoint, NetworkSchema, this.expectOk(endpoint, res));
    return {
      id: n.id,
      name: n.name,
      state: n.state,
      region: n.region,
      cidrBlock: n.cidr_block,
      stateReason: n.state_metadata?.reason,
      transitGatewayCount: n.transit_gateway_count,
      vpcId: n.provider_metadata?.vpc_id ?? undefined,
    };
  }

  /** The network's transit gateways (attachments), all pages. A missing network is an error here. */
  async listTransitGateways(networkId: string): Promise<CloudGatewayTransitGateway[]> {
    const endpoint = 'GET /v2/cloud-gateways/networks/{networkId}/transit-gateways';
    const items = await this.allPages(`/v2/cloud-gateways/networks/${seg(networkId)}/transit-gateways`, new URLSearchParams(), endpoint, ListTransitGatewaysSchema);
    return items.map((t) => ({
      id: t.id,
      name: t.name,
      state: t.state,
      stateReason: t.state_metadata?.reason,
      kind: t.transit_gateway_attachment_config?.kind,
      cidrBlocks: [...(t.cidr_blocks ?? [])],
      awsTransitGatewayId: t.transit_gateway_attachment_config?.transit_gateway_id,
      awsAttachmentId: t.transit_gateway_attachment_config?.attachment_id,
    }));
  }

  // ---------- plumbing ----------

  private async allPages<T>(
    path: string,
    query: URLSearchParams,
    endpoint: string,
    schema: z.ZodMiniType<{ meta: { page: { size: number; total: number } }; data: T[] }>,
  ): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const q = new URLSearchParams(query);
      q.set('page[size]', String(PAGE_SIZE));
      q.set('page[number]', String(page));
      const res = await this.call('GET', `${path}?${q.toString()}`, endpoint, { idempotent: true });
      const body = this.parse(endpoint, schema, this.expectOk(endpoint, res));
      items.push(...body.data);
      if (items.length >= body.meta.page.total) return items;
      // A page shorter than its size before the announced total is a truncated answer: fail closed rather than
      // return part of the list (a missing egress IP would be revoked). A server may use a smaller size than asked.
      const size = Math.min(PAGE_SIZE, body.meta.page.size);
      if (body.data.length === 0 || body.data.length < size) {
        throw new KonnectApiError(
          this.target,
          endpoint,
          res.status,
          `${endpoint}: page ${page} returned ${body.data.length} items (page size ${size}) with only ${items.length} read of a total of ${body.meta.page.total}: the answer is truncated; refusing it`,
        );
      }
    }
    throw new KonnectApiError(this.target, endpoint, undefined, `${endpoint} returned more than ${MAX_PAGES} pages; refusing to read further`);
  }

  private async call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    endpoint: string,
    options: { body?: unknown; idempotent: boolean; sensitive?: string[] },
  ): Promise<JsonResponse> {
    let token: string;
    try {
      token = await this.token();
    } catch (error) {
      throw new KonnectApiError(this.target, endpoint, undefined, `could not read the Konnect access token: ${(error as Error)?.name ?? 'error'}`, { cause: error });
    }
    try {
      return await requestJson(
        {
          method,
          url: `${this.baseUrl}${path}`,
          headers: { authorization: `Bearer ${token}` },
          body: options.body,
          idempotent: options.idempotent,
          sensitive: [token, ...(options.sensitive ?? [])],
        },
        this.http,
      );
    } catch (error) {
      if (error instanceof HttpUnreachableError) {
        throw new KonnectApiError(this.target, endpoint, undefined, `${endpoint} at ${this.baseUrl}: Konnect unreachable (${error.reason} after ${error.attempts} attempts)`, {
          cause: error,
          retryable: true,
        });
      }
      throw error;
    }
  }

  private expectOk(endpoint: string, res: JsonResponse): unknown {
    if (res.status >= 200 && res.status < 300) {
      if (res.json === undefined) {
        throw new KonnectApiError(this.target, endpoint, res.status, `${endpoint} answered ${res.status} without a JSON body`);
      }
      return res.json;
    }
    throw this.statusError(endpoint, res);
  }

  private statusError(endpoint: string, res: JsonResponse, hint?: string): KonnectApiError {
    const problem = ProblemSchema.safeParse(res.json);
    // Konnect may echo request data in `detail`: blank the token and any value sent.
    const said = problem.success ? res.redact([problem.data.title, problem.data.detail ?? problem.data.message].filter(Boolean).join(': ')) : res.excerpt;
    const advice =
      hint ??
      (res.status === 401
        ? 'the access token was refused: check that the token secret holds a valid Konnect personal or system-account token'
        : res.status === 403
          ? 'the token lacks permission for this resource: grant its role access to the control plane / cloud gateways'
          : res.status === 404
            ? 'not found: check the ids in the configuration'
            : res.status === 429
              ? `rate limited by Konnect after ${res.attempts} attempts: retry later`
              : res.status >= 500
                ? `Konnect failed after ${res.attempts} attempts: retry later`
                : 'the request was refused');
    return new KonnectApiError(this.target, endpoint, res.status, `${endpoint} answered HTTP ${res.status}${said ? ` (${said.slice(0, 200)})` : ''}: ${advice}`, {
      retryable: res.status === 429 || res.status >= 500,
    });
  }

  private parse<T>(endpoint: string, schema: z.ZodMiniType<T>, body: unknown): T {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const issues = result.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new KonnectApiError(this.target, endpoint, 200, `${endpoint} returned an unexpected response shape (${issues}); has the Konnect API changed?`);
  }

  private secretInfo(endpoint: string, body: unknown): ConfigStoreSecretInfo {
    const s = this.parse(endpoint, ConfigStoreSecretSchema, body);
    return { key: s.key, createdAt: s.created_at, updatedAt: s.updated_at, ...(s.value !== undefined ? { value: s.value } : {}) };
  }
}

function seg(value: string): string {
  return encodeURIComponent(value);
}
