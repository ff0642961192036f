/**
 * Holds the Kong Admin and Konnect fakes (and what origin-guard sends them) to the OpenAPI documents Kong
 * publishes, in `../shared/kong-api-specs/` (beside the repository; see its README). Each recorded exchange
 * (`RecordedRequest` with the fake's answer) is matched to an operation of the document and its request
 * (path, query, headers, body) and response (status, body) are validated with openapi-backend (Ajv underneath).
 *
 * Where Kong's behaviour is stricter or looser than its document, the rule is written here with the Kong
 * documentation that states it:
 * - unset route fields are answered as JSON `null` (the Admin API document types them without `nullable`; the
 *   Konnect control-planes-config document describes the same Route with `nullable: true` on them), so `null`
 *   members are dropped before a response is validated against the Admin API documents;
 * - the Admin API document gives route writes the body schema `type: object` only, while Kong refuses a field its
 *   Route schema does not have with `400 schema violation (... unknown field)`
 *   (https://developer.konghq.com/gateway/entities/route/#schema): route write bodies are held to the properties
 *   of `components.schemas.Route` here, so an unknown route field fails the check;
 * - PATCH is a partial update: "attributes not given are left unchanged"
 *   (https://developer.konghq.com/api/gateway/admin-oss/3.9/#/operations/update-route, and the Admin API guide
 *   https://docs.konghq.com/gateway/latest/admin-api/#update-route), but Admin API 3.9 reuses the create body
 *   (`route-request`, which requires `protocols`) for PATCH: `required` errors are not counted for a PATCH body;
 *   every other error (types, formats) is;
 * - a query key that is not a parameter's literal name is read as a `deepObject` member
 *   (`filter[control_plane_id][eq]=...` is the `filter` parameter in the Konnect documents).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import { parse } from 'yaml';
import type { RecordedRequest } from './fake-http.ts';

/** `../shared/kong-api-specs` relative to the repository (the folder that holds package.json). */
export const KONG_SPECS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'kong-api-specs');

export const KONG_SPECS = {
  adminOss: 'gateway/admin-oss/3.9/openapi.yaml',
  adminEe: 'gateway/admin-ee/3.10/openapi.yaml',
  konnectConfig: 'konnect/control-planes-config/v2/openapi.yaml',
  konnectCloudGateways: 'konnect/cloud-gateways/v2/openapi.yaml',
} as const;

export type KongSpecName = keyof typeof KONG_SPECS;

export function kongSpecsPresent(): boolean {
  return Object.values(KONG_SPECS).every((file) => existsSync(join(KONG_SPECS_DIR, file)));
}

interface Schema {
  properties?: Record<string, unknown>;
  oneOf?: Array<{ $ref?: string } & Schema>;
  anyOf?: Array<{ $ref?: string } & Schema>;
  allOf?: Array<{ $ref?: string } & Schema>;
  $ref?: string;
}

interface Document {
  components?: { schemas?: Record<string, Schema> };
  [key: string]: unknown;
}

/** Drops `null` members (recursively): Kong answers unset fields as `null` (see the file comment). */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

function describeErrors(errors: Array<{ instancePath?: string; message?: string; params?: unknown }> | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${e.params ? JSON.stringify(e.params) : ''}`.trim()).join('; ');
}

export class KongContract {
  private constructor(
    readonly name: KongSpecName,
    private readonly api: OpenAPIBackend,
    private readonly document: Document,
    /** Prefix of our request paths that the document's server URL already holds (`/v2` for Konnect). */
    private readonly apiRoot: string,
    /** Admin API documents: null members are Kong's unset fields. */
    private readonly nullsAreUnset: boolean,
  ) {}

  static async load(name: KongSpecName): Promise<KongContract> {
    const document = parse(readFileSync(join(KONG_SPECS_DIR, KONG_SPECS[name]), 'utf8'), { maxAliasCount: -1 }) as Document;
    const apiRoot = name.startsWith('konnect') ? '/v2' : '/';
    const api = new OpenAPIBackend({ definition: document as never, apiRoot, strict: false, validate: true, quick: true, ajvOpts: { strict: false, validateFormats: false } });
    await api.init();
    return new KongContract(name, api, document, apiRoot, name.startsWith('admin'));
  }

  /** Field names of the document's Route schema (Admin API documents; Enterprise's is `oneOf` two shapes). */
  routeFields(): string[] {
    const schemas = this.document.components?.schemas ?? {};
    const fields = new Set<string>();
    const visit = (schema: Schema | undefined, depth: number): void => {
      if (!schema || depth > 5) return;
      if (schema.$ref) return visit(schemas[schema.$ref.replace('#/components/schemas/', '')], depth + 1);
      for (const key of Object.keys(schema.properties ?? {})) fields.add(key);
      for (const part of [...(schema.oneOf ?? []), ...(schema.anyOf ?? []), ...(schema.allOf ?? [])]) visit(part, depth + 1);
    };
    visit(schemas.Route, 0);
    if (fields.size === 0) throw new Error(`${this.name}: no Route schema in ${KONG_SPECS[this.name]}`);
    return [...fields];
  }

  /**
   * The query as openapi-backend validates it: a parameter the operation names literally (`page[size]`) stays
   * flat, the others are read as `deepObject` members (`filter[control_plane_id][eq]` → `filter.control_plane_id.eq`).
   */
  private queryFor(operation: Operation, raw: Record<string, string>): Record<string, unknown> {
    const declared = new Set(
      ((operation.parameters ?? []) as Array<{ in?: string; name?: string }>).filter((p) => p.in === 'query').map((p) => p.name),
    );
    const query: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (declared.has(key) || !key.includes('[')) {
        query[key] = value;
        continue;
      }
      const [head, ...rest] = key.replace(/\]/g, '').split('[');
      let node = (query[head] ??= {}) as Record<string, unknown>;
      rest.forEach((part, i) => {
        if (i === rest.length - 1) node[part] = value;
        else node = (node[part] ??= {}) as Record<string, unknown>;
      });
    }
    return query;
  }

  /**
   * Problems with one exchange, as readable lines (empty: the document allows both the request and the answer).
   * A request that matches no operation of the document is a problem.
   */
  check(exchange: RecordedRequest): string[] {
    const where = `${exchange.method} ${exchange.path}`;
    const matched = this.api.matchOperation({ method: exchange.method, path: exchange.path, headers: {} }) as Operation | undefined;
    if (!matched) return [`${this.name}: ${where} is not an operation of ${KONG_SPECS[this.name]}`];
    const operation = matched;
    const query = this.queryFor(operation, exchange.query);
    const request = { method: exchange.method, path: exchange.path, query: query as Record<string, string>, headers: exchange.headers as Record<string, string>, body: exchange.body };
    const problems: string[] = [];
    const validated = this.api.validateRequest(request, operation);
    const errors = (validated.errors ?? []).filter((e) => !(exchange.method === 'PATCH' && e.keyword === 'required' && (e.instancePath ?? '').startsWith('/requestBody')));
    if (errors.length > 0) problems.push(`${this.name}: request ${where} (${operation.operationId}): ${describeErrors(errors as never)}`);
    if (this.nullsAreUnset && /-route$/i.test(operation.operationId ?? '') && ['POST', 'PUT', 'PATCH'].includes(exchange.method)) {
      const known = new Set(this.routeFields());
      const unknown = Object.keys((exchange.body ?? {}) as object).filter((k) => !known.has(k));
      if (unknown.length > 0) problems.push(`${this.name}: request ${where}: unknown route field(s) ${unknown.join(', ')} (Kong answers 400 schema violation)`);
    }
    if (exchange.status === 0) return problems;
    const responses = (operation.responses ?? {}) as Record<string, unknown>;
    const status = String(exchange.status);
    if (!(status in responses) && !(`${status[0]}XX` in responses) && !('default' in responses)) {
      problems.push(`${this.name}: response ${where} → ${status} is not documented for ${operation.operationId} (documented: ${Object.keys(responses).join(', ')})`);
      return problems;
    }
    if (exchange.responseBody !== undefined && /json/.test(exchange.responseContentType ?? '')) {
      const body = this.nullsAreUnset ? withoutNulls(exchange.responseBody) : exchange.responseBody;
      const answer = this.api.validateResponse(body, operation, exchange.status);
      if (!answer.valid) problems.push(`${this.name}: response ${where} → ${status} (${operation.operationId}): ${describeErrors(answer.errors as never)}`);
    }
    return problems;
  }

  /** Problems with every exchange (see check). */
  checkAll(exchanges: RecordedRequest[]): string[] {
    return exchanges.flatMap((e) => this.check(e));
  }

  /** The apiRoot, for messages. */
  get root(): string {
    return this.apiRoot;
  }
}
