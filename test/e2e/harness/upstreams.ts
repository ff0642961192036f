/**
 * Upstream services: each runs the shipped verifier (`createOriginVerifier`, its Express/Connect
 * middleware) with its own cache, against the gateway-to-upstream secret in moto.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createOriginVerifier, type OriginVerifier } from '../../../lambdas/verifier/index.ts';
import { HOP_HEADER, REASON_HEADER, startLoopbackServer, type LoopbackServer } from './http.ts';

export interface UpstreamOptions {
  client: SecretsManagerClient;
  secretId: string;
  headerName: string;
  cacheTtlSeconds: number;
}

export class Upstream {
  private server?: LoopbackServer;
  readonly verifier: OriginVerifier;
  /** The Secrets Manager client this upstream's verifier reads through (its own: a fault here blinds only it). */
  readonly client: SecretsManagerClient;
  refreshErrors = 0;

  constructor(
    readonly id: number,
    options: UpstreamOptions,
  ) {
    this.client = options.client;
    this.verifier = createOriginVerifier({
      secretId: options.secretId,
      headerName: options.headerName,
      cacheTtlSeconds: options.cacheTtlSeconds,
      client: options.client,
      onRefreshError: () => void (this.refreshErrors += 1),
    });
  }

  async start(): Promise<void> {
    await this.verifier.refresh();
    const middleware = this.verifier.middleware();
    this.server = await startLoopbackServer(`upstream-${this.id}`, (req, res) => {
      // Marked as the upstream's refusal in case the verifier answers 403; cleared when it lets the request in.
      res.setHeader(HOP_HEADER, 'upstream');
      res.setHeader(REASON_HEADER, 'verifier refused');
      middleware(req, res, (error?: unknown) => {
        res.removeHeader(HOP_HEADER);
        res.removeHeader(REASON_HEADER);
        if (error) {
          res.writeHead(500, { [HOP_HEADER]: 'upstream', [REASON_HEADER]: 'verifier error' });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
  }

  get url(): string {
    if (!this.server) throw new Error('upstream not started');
    return this.server.url;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
