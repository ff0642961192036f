/**
 * Reads Kong's vault entity (`GET {adminUrl}/vaults/{prefix}`, Kong Admin API or Konnect core-entities) so
 * that propagation is observed, not assumed: Kong caches a vault value for the vault's `config.ttl` (0 means
 * "never re-read"), and `resurrect_ttl` keeps serving a stale value after a failed re-fetch.
 */
import { TargetError } from '../core/errors.ts';
import { defaultHttpSettings, requestJson, safeUrl } from './http-json.ts';

export interface KongVaultEntity {
  prefix: string;
  name?: string;
  config: { ttl?: number | null; neg_ttl?: number | null; resurrect_ttl?: number | null };
}

export interface KongVaultReaderOptions {
  adminUrl: string;
  prefix: string;
  token?: () => Promise<string | undefined>;
  auth?: 'kong-admin-token' | 'bearer';
  fetch?: typeof fetch;
}

export function kongVaultReader(options: KongVaultReaderOptions): () => Promise<KongVaultEntity> {
  const base = options.adminUrl.replace(/\/+$/, '');
  const target = `kong-vault-entity:${options.prefix}`;
  const auth = options.auth ?? (/\.api\.konghq\.com$/.test(new URL(base).hostname) ? 'bearer' : 'kong-admin-token');
  const http = defaultHttpSettings({ fetch: options.fetch });
  return async () => {
    const token = await options.token?.();
    const headers: Record<string, string> = token ? (auth === 'bearer' ? { authorization: `Bearer ${token}` } : { 'kong-admin-token': token }) : {};
    const url = `${base}/vaults/${encodeURIComponent(options.prefix)}`;
    let res;
    try {
      res = await requestJson({ method: 'GET', url, headers, idempotent: true, sensitive: token ? [token] : [] }, http);
    } catch (error) {
      throw new TargetError(target, `cannot read ${safeUrl(url)}: ${(error as Error).message}`, { cause: error, retryable: true });
    }
    if (res.status === 404) throw new TargetError(target, `Kong has no vault with prefix "${options.prefix}" at ${safeUrl(base)}`);
    if (res.status !== 200) throw new TargetError(target, `GET ${safeUrl(url)} answered ${res.status}: ${res.excerpt}`);
    const body = res.json as Partial<KongVaultEntity> | undefined;
    if (!body || typeof body !== 'object' || typeof body.config !== 'object' || body.config === null) {
      throw new TargetError(target, `GET ${safeUrl(url)} answered without a vault "config" object`);
    }
    return { prefix: body.prefix ?? options.prefix, name: body.name, config: body.config };
  };
}

/** Kong's minimum re-fetch period: the vault rotation timer. */
const MIN_RESURRECT_WINDOW_SECONDS = 60;

/**
 * Problems that make the configured propagation wrong: a `ttl` of 0 (Kong never re-reads the value), a `ttl`
 * longer than the configured `ttlSeconds` (nodes keep the old value longer than the rotation waits), and a
 * `ttl + resurrect_ttl` below one vault rotation period (a failed re-fetch drops the value: refused traffic).
 */
export function vaultTtlProblems(entity: KongVaultEntity, configuredTtlSeconds: number, where: string): string[] {
  const ttl = entity.config.ttl ?? 0;
  const resurrect = entity.config.resurrect_ttl ?? 0;
  const problems: string[] = [];
  if (ttl === 0) problems.push(`${where}: Kong vault "${entity.prefix}" has ttl 0, so Kong never re-reads the value and would keep sending the old one; set config.ttl to at most ${configuredTtlSeconds}`);
  else if (ttl > configuredTtlSeconds) {
    problems.push(`${where}: Kong vault "${entity.prefix}" has ttl ${ttl} s, longer than the configured ttlSeconds ${configuredTtlSeconds}: raise ttlSeconds to at least ${ttl} or lower the vault's ttl`);
  }
  if (ttl > 0 && ttl + resurrect < MIN_RESURRECT_WINDOW_SECONDS) {
    problems.push(`${where}: Kong vault "${entity.prefix}" has ttl + resurrect_ttl = ${ttl + resurrect} s, below ${MIN_RESURRECT_WINDOW_SECONDS} s: one failed re-fetch would drop the value`);
  }
  return problems;
}
