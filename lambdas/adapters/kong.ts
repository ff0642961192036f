/**
 * Kong routes as validators: a route with a header match (`headers: { "x-origin-verify": [v1, v2] }`) only
 * matches requests that carry one of the values, so Kong answers 404 ("no Route matched") to the others.
 *
 * Works with the Kong Admin API (`https://kong-admin:8444`, optionally `/{workspace}`) and with Konnect's
 * control-plane entities (`https://{region}.api.konghq.com/v2/control-planes/{id}/core-entities`).
 *
 * How Kong treats route headers (kong/db/schema/typedefs.lua, kong/router/transform.lua):
 * - names are stored as sent, and matched case-insensitively (the router lower-cases them). Two spellings
 *   of one name are two conditions that must both hold, so we keep exactly one key per header: the
 *   existing spelling if there is one, else the lower-case name;
 * - values are matched case-insensitively too, and a value starting with `~*` is a regex. Values must not
 *   start with `~*` (refused here); generate them in one case to keep their full entropy.
 */
import '../zod-english.ts';
import * as z from 'zod/mini';
import { TargetError } from '../core/errors.ts';
import { fingerprint, sameValue } from '../core/fingerprint.ts';
import type { ValidatorPort } from '../core/ports.ts';
import { defaultHttpSettings, HttpUnreachableError, redact, requestJson, safeUrl, type HttpSettings, type JsonResponse } from './http-json.ts';
import { isKonnectUrl } from './konnect.ts';

export interface KongRouteValidatorOptions {
  /** Base URL of the entities API, e.g. `https://kong-admin:8444/team-a` or a Konnect `.../core-entities` URL. */
  adminUrl: string;
  /** Route ids or names. */
  routes: string[];
  headerName: string;
  /** The admin token (Kong Enterprise RBAC) or Konnect access token; none for an open Admin API. */
  token?: () => Promise<string | undefined>;
  /** Default: `bearer` when the host ends with `api.konghq.com`, `kong-admin-token` otherwise. */
  auth?: 'kong-admin-token' | 'bearer';
  /** Kong nodes apply route changes after `db_update_frequency` (5 s by default); more in hybrid mode. */
  propagationSeconds: number;
  /**
   * How a route is written. Default: `put` (full route, Konnect's only update) when `adminUrl` is Konnect or
   * ends with `/core-entities`, else `patch` (only `headers`, so concurrent edits of other fields survive).
   */
  writeMethod?: 'patch' | 'put';
  fetch?: typeof fetch;
  /** Per attempt; default 10 000. */
  timeoutMs?: number;
  /** Attempts in all on 429 / 5xx / connection errors; default 3. */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const RouteSchema = z.looseObject({
  id: z.string(),
  name: z.optional(z.nullable(z.string())),
  headers: z.optional(z.nullable(z.record(z.string(), z.array(z.string())))),
  expression: z.optional(z.nullable(z.string())),
});
type Route = z.infer<typeof RouteSchema>;

/** Fields Kong computes; sending them back in a PUT is at best ignored. */
const READ_ONLY_FIELDS = ['created_at', 'updated_at'];

export class KongRouteValidator implements ValidatorPort {
  readonly id: string;
  readonly propagationSeconds: number;
  private readonly baseUrl: string;
  private readonly auth: 'kong-admin-token' | 'bearer';
  private readonly writeMethod: 'patch' | 'put';
  private readonly http: HttpSettings;

  constructor(private readonly options: KongRouteValidatorOptions) {
    if (options.routes.length === 0) throw new Error('KongRouteValidator needs at least one route');
    this.id = `kong-route:${options.routes.join(',')}`;
    this.propagationSeconds = options.propagationSeconds;
    this.baseUrl = options.adminUrl.replace(/\/+$/, '');
    let path: string;
    try {
      path = new URL(this.baseUrl).pathname;
    } catch {
      throw new Error(`KongRouteValidator: adminUrl "${safeUrl(options.adminUrl)}" is not a URL`);
    }
    const konnect = isKonnectUrl(this.baseUrl);
    this.auth = options.auth ?? (konnect ? 'bearer' : 'kong-admin-token');
    this.writeMethod = options.writeMethod ?? (konnect || /\/core-entities$/.test(path) ? 'put' : 'patch');
    this.http = defaultHttpSettings({ fetch: options.fetch, timeoutMs: options.timeoutMs, maxAttempts: options.maxAttempts, sleep: options.sleep });
  }

  /** Makes every route match exactly `values` for the header, keeping its other header matches and fields. */
  async accept(values: string[]): Promise<void> {
    const wanted = distinct(values);
    if (wanted.length === 0) throw new TargetError(this.id, 'refusing to accept no value: the routes would stop checking the header');
    for (const value of wanted) {
      if (value.length === 0) throw new TargetError(this.id, 'refusing an empty header value');
      if (value.startsWith('~*')) {
        throw new TargetError(this.id, `value ${fingerprint(value)} starts with "~*", which Kong reads as a regex: generate values without that prefix`);
      }
    }
    // One route at a time: each write is idempotent, so a retry after a failure converges.
    for (const routeRef of this.options.routes) {
      const route = await this.getRoute(routeRef);
      if (route.expression) {
        throw new TargetError(
          this.id,
          `route "${routeRef}" uses an expression (router_flavor = expressions); origin-guard manages the headers field only: match the header in the expression yourself or use a traditional route`,
        );
      }
      const headers = { ...(route.headers ?? {}) };
      const keys = this.headerKeys(headers);
      if (keys.length === 1 && sameSet(headers[keys[0]], wanted)) continue;
      const key = keys.length === 1 ? keys[0] : this.options.headerName.toLowerCase();
      for (const k of keys) delete headers[k];
      headers[key] = wanted;
      const written = await this.writeRoute(routeRef, route, headers, wanted);
      const kept = this.headerKeys(written.headers ?? {});
      if (kept.length !== 1 || !sameSet((written.headers ?? {})[kept[0]], wanted)) {
        throw new TargetError(this.id, `route "${routeRef}" at ${safeUrl(this.baseUrl)}: Kong answered the update without the expected header values; check for a proxy rewriting requests`);
      }
    }
  }

  /**
   * The values every route accepts: a request passes the hop only if its route matches, so a value counts
   * only when all routes accept it (the intersection). A route without the header match accepts any value
   * and contributes nothing here, so drift shows up as "does not accept".
   */
  async accepted(): Promise<string[]> {
    let common: string[] | undefined;
    for (const routeRef of this.options.routes) {
      const route = await this.getRoute(routeRef);
      const headers = route.headers ?? {};
      const keys = this.headerKeys(headers);
      // Several spellings are ANDed by Kong: a value must be in each list.
      let values: string[] = keys.length === 0 ? [] : distinct(headers[keys[0]]);
      for (const k of keys.slice(1)) values = values.filter((v) => headers[k].some((w) => sameValue(v, w)));
      common = common === undefined ? values : common.filter((v) => values.some((w) => sameValue(v, w)));
    }
    return common ?? [];
  }

  // ---------- HTTP ----------

  private headerKeys(headers: Record<string, string[]>): string[] {
    const wanted = this.options.headerName.toLowerCase();
    return Object.keys(headers).filter((k) => k.toLowerCase() === wanted);
  }

  private routeUrl(routeRef: string): string {
    return `${this.baseUrl}/routes/${encodeURIComponent(routeRef)}`;
  }

  private async getRoute(routeRef: string): Promise<Route> {
    const res = await this.send('GET', routeRef, undefined, []);
    if (res.status === 200) return this.parseRoute(routeRef, 'GET', res);
    if (res.status === 404) {
      throw new TargetError(
        this.id,
        `route "${routeRef}" not found at ${safeUrl(this.routeUrl(routeRef))} (HTTP 404): check the route id or name, and the workspace or control plane in adminUrl`,
      );
    }
    throw this.statusError(routeRef, 'GET', res, []);
  }

  private async writeRoute(routeRef: string, route: Route, headers: Record<string, string[]>, values: string[]): Promise<Route> {
    let body: Record<string, unknown>;
    if (this.writeMethod === 'patch') {
      body = { headers };
    } else {
      body = { ...route, headers };
      for (const field of READ_ONLY_FIELDS) delete body[field];
    }
    const method = this.writeMethod === 'patch' ? 'PATCH' : 'PUT';
    const res = await this.send(method, routeRef, body, values);
    if (res.status === 200 || res.status === 201) return this.parseRoute(routeRef, method, res);
    throw this.statusError(routeRef, method, res, values);
  }

  private async send(method: 'GET' | 'PATCH' | 'PUT', routeRef: string, body: unknown, values: string[]): Promise<JsonResponse> {
    const url = this.routeUrl(routeRef);
    const headers: Record<string, string> = {};
    let token: string | undefined;
    try {
      token = await this.options.token?.();
    } catch (error) {
      throw new TargetError(this.id, `cannot read the Kong admin token: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (token) {
      if (this.auth === 'bearer') headers.authorization = `Bearer ${token}`;
      else headers['kong-admin-token'] = token;
    }
    try {
      // PATCH and PUT of the same headers are idempotent: repeating them after a lost answer is harmless.
      return await requestJson({ method, url, headers, body, idempotent: true, sensitive: [...values, ...(token ? [token] : [])] }, this.http);
    } catch (error) {
      if (error instanceof HttpUnreachableError) {
        throw new TargetError(this.id, `Kong Admin API unreachable: ${method} ${safeUrl(url)} failed (${error.reason} after ${error.attempts} attempts); is Kong up and adminUrl right?`, {
          cause: error,
          retryable: true,
        });
      }
      throw error;
    }
  }

  private parseRoute(routeRef: string, method: string, res: JsonResponse): Route {
    const parsed = RouteSchema.safeParse(res.json);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new TargetError(
      this.id,
      `route "${routeRef}": ${method} ${safeUrl(this.routeUrl(routeRef))} answered HTTP ${res.status} with an unexpected body (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'not JSON'})`,
    );
  }

  private statusError(routeRef: string, method: string, res: JsonResponse, values: string[]): TargetError {
    const message = kongMessage(res) ?? res.excerpt;
    const said = message ? ` (${res.redact(redact(message, values)).slice(0, 200)})` : '';
    const advice =
      res.status === 401 || res.status === 403
        ? `the token was refused: check tokenSecretName and auth (${this.auth})`
        : res.status === 429
          ? `rate limited after ${res.attempts} attempts: retry later`
          : res.status >= 500
            ? `Kong failed after ${res.attempts} attempts; is it up and its database reachable?`
            : res.status === 400 || res.status === 409
              ? 'Kong refused the change'
              : 'unexpected answer';
    return new TargetError(this.id, `route "${routeRef}": ${method} ${safeUrl(this.routeUrl(routeRef))} answered HTTP ${res.status}${said}: ${advice}`, {
      retryable: res.status === 429 || res.status >= 500,
    });
  }
}

function kongMessage(res: JsonResponse): string | undefined {
  const body = res.json as { message?: unknown } | undefined;
  return body && typeof body.message === 'string' ? body.message : undefined;
}

function distinct(values: string[]): string[] {
  return values.filter((v, i) => values.indexOf(v) === i);
}

function sameSet(a: string[] | undefined, b: string[]): boolean {
  if (!a) return false;
  const x = distinct(a);
  return x.length === b.length && b.every((v) => x.some((w) => sameValue(v, w)));
}
