/**
 * Reads IP range feeds: `https://` (and `http://` on loopback hosts only, for local fakes) with a timeout and
 * a size limit, or `file://` for offline use; Konnect cloud-gateway configurations through KonnectClient with
 * a token from Secrets Manager. Every failure becomes a SourceError naming the source, so reconcile changes
 * nothing. A feed decides what the security groups admit: it is read only over TLS from the configured URL
 * (no redirects), so nobody on the path can change it.
 */
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SourceError, describeError } from '../core/errors.ts';
import type { KonnectEgressView } from '../core/ip-sources.ts';
import type { IpFeedPort, KonnectSourceConfig } from '../core/reconcile.ts';
import { KONNECT_GLOBAL_API_URL, KonnectClient } from './konnect.ts';
import { safeUrl } from './http-json.ts';
import { TokenReader } from './tokens.ts';

/** Hosts where plain `http://` is accepted: the traffic never leaves the machine. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface IpFeedsOptions {
  /** Per request (default 10 000 ms). */
  timeoutMs?: number;
  /** Largest body accepted (default 16 MiB; AWS's ip-ranges.json is about 2 MB). */
  maxBytes?: number;
  fetch?: typeof fetch;
  /** Needed for Konnect sources (the token secret). */
  secretsManager?: SecretsManagerClient;
  /** Waits between Konnect retries (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

export class HttpIpFeeds implements IpFeedPort {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly fetchFn: typeof fetch;
  private readonly tokens?: TokenReader;

  constructor(private readonly options: IpFeedsOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.fetchFn = options.fetch ?? globalThis.fetch;
    if (options.secretsManager) this.tokens = new TokenReader(options.secretsManager);
  }

  async fetchText(url: string, source: string): Promise<string> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new SourceError(source, `"${safeUrl(url)}" is not a URL`, { cause: error });
    }
    if (parsed.protocol === 'file:') return this.readFile(parsed, source);
    if (parsed.protocol === 'http:' && !LOOPBACK_HOSTS.has(parsed.hostname)) {
      throw new SourceError(
        source,
        `plain http:// is refused for ${safeUrl(url)} (anyone on the path could change the ranges): use https:// (http:// is accepted only on 127.0.0.1, localhost and ::1); nothing was changed`,
      );
    }
    if (parsed.protocol === 'https:' || parsed.protocol === 'http:') return this.fetchHttp(url, source);
    throw new SourceError(source, `unsupported URL scheme ${parsed.protocol} (use https:// or file://)`);
  }

  private async readFile(url: URL, source: string): Promise<string> {
    let handle;
    try {
      handle = await open(fileURLToPath(url), 'r');
    } catch (error) {
      throw new SourceError(source, `cannot read ${url.href}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}; nothing was changed`, { cause: error });
    }
    try {
      const { size } = await handle.stat();
      if (size > this.maxBytes) throw new SourceError(source, `${url.href} is ${size} bytes, more than the ${this.maxBytes} accepted; nothing was changed`);
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  }

  private async fetchHttp(url: string, source: string): Promise<string> {
    const where = safeUrl(url);
    let response: Response;
    try {
      // Redirects are not followed: a hop could leave TLS or the publisher's host (see below).
      response = await this.fetchFn(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'manual', headers: { 'user-agent': 'origin-guard' } });
    } catch (error) {
      const reason = (error as Error).name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : describeError(error);
      throw new SourceError(source, `GET ${where} failed: ${reason}; nothing was changed`, { cause: error });
    }
    if ((response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
      await response.body?.cancel().catch(() => {});
      let location = response.headers.get('location');
      if (location) location = safeUrl(URL.canParse(location, url) ? new URL(location, url).href : location);
      throw new SourceError(
        source,
        `GET ${where} answered a redirect (HTTP ${response.status})${location ? ` to ${location}` : ''}; redirects are refused so the feed is read only from the configured URL: configure the final https:// URL; nothing was changed`,
      );
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new SourceError(source, `GET ${where} answered HTTP ${response.status}; nothing was changed`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      await response.body?.cancel().catch(() => {});
      throw new SourceError(source, `GET ${where} is ${declared} bytes, more than the ${this.maxBytes} accepted; nothing was changed`);
    }
    // Count while reading: a missing or lying content-length must not let a huge body into memory.
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      const reader = response.body?.getReader();
      if (reader) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > this.maxBytes) {
            await reader.cancel().catch(() => {});
            throw new SourceError(source, `GET ${where} is larger than the ${this.maxBytes} bytes accepted; nothing was changed`);
          }
          chunks.push(value);
        }
      }
    } catch (error) {
      if (error instanceof SourceError) throw error;
      const reason = (error as Error).name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : describeError(error);
      throw new SourceError(source, `reading GET ${where} failed: ${reason}; nothing was changed`, { cause: error });
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async konnectConfigurations(config: KonnectSourceConfig, source: string): Promise<KonnectEgressView[]> {
    if (!this.tokens) throw new SourceError(source, 'no Secrets Manager client to read the Konnect token (tokenSecretName)');
    const client = new KonnectClient({
      baseUrl: config.apiUrl ?? KONNECT_GLOBAL_API_URL,
      token: this.tokens.token(config.tokenSecretName),
      fetch: this.options.fetch,
      timeoutMs: this.timeoutMs,
      sleep: this.options.sleep,
    });
    try {
      return await client.listCloudGatewayConfigurations({
        controlPlaneId: config.controlPlaneId,
        controlPlaneGeo: config.region,
        cloudGatewayNetworkId: config.networkId,
      });
    } catch (error) {
      throw new SourceError(source, `${describeError(error)}; nothing was changed`, { cause: error });
    }
  }
}
