/**
 * Loopback HTTP plumbing for the e2e harness: servers on 127.0.0.1 (port 0) that can be closed with their
 * keep-alive connections, and a bounded client request on a keep-alive agent (so 200 requests a second do
 * not leave thousands of sockets in TIME_WAIT).
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers the harness uses to say which hop answered a request and why. */
export const HOP_HEADER = 'x-e2e-hop';
export const REASON_HEADER = 'x-e2e-reason';
/** The address the request comes from, as the security groups of the gateway see it (set by edges). */
export const SOURCE_HEADER = 'x-e2e-source-ip';
export const EDGE_HEADER = 'x-e2e-edge';
/** Sweeps pin the nodes that judge a request (edges pass these on); without them a node is picked at random. */
export const PIN_WAF_HEADER = 'x-e2e-waf-node';
export const PIN_KONG_HEADER = 'x-e2e-kong-node';
export const PIN_UPSTREAM_HEADER = 'x-e2e-upstream';
/** Forged sweeps straight at the gateway: `waf` or `kong` judges alone (2xx: that hop would let it in). */
export const ONLY_HOP_HEADER = 'x-e2e-only';
/** Which nodes judged a request and the version of their views, e.g. `waf-1@2 kong-0@1 vault-0@0`. */
export const VIEW_HEADER = 'x-e2e-view';

export interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export async function startLoopbackServer(name: string, handler: Handler): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        // A harness bug, not a product rejection: counted under its own hop so a run never hides it.
        if (!res.headersSent) {
          res.writeHead(500, { [HOP_HEADER]: `harness:${name}`, [REASON_HEADER]: (error as Error)?.name ?? 'error' });
        }
        res.end();
      });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

export interface Reply {
  /** Undefined when no answer came back (refused, reset, timed out). */
  status?: number;
  headers: IncomingHttpHeaders;
  error?: string;
}

/** One agent per component, so that closing a harness frees its sockets. */
export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 64, timeout: 10_000 });
}

/** GET `url` with `headers`; never throws; the body is read and dropped. Bounded by `timeoutMs`. */
export function get(agent: Agent, url: string, headers: Record<string, string>, timeoutMs = 5_000): Promise<Reply> {
  return new Promise<Reply>((resolve) => {
    let settled = false;
    const done = (reply: Reply) => {
      if (settled) return;
      settled = true;
      resolve(reply);
    };
    const req = request(url, { method: 'GET', headers, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => done({ status: res.statusCode, headers: res.headers }));
      res.on('error', (error) => done({ headers: {}, error: error.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (error) => done({ headers: {}, error: (error as NodeJS.ErrnoException).code ?? error.message }));
    req.end();
  });
}

/** A single header value, or undefined (repeated headers are refused by every hop anyway). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

export function reject(res: ServerResponse, status: number, hop: string, reason: string, view?: string): void {
  res.writeHead(status, { [HOP_HEADER]: hop, [REASON_HEADER]: reason, 'content-type': 'text/plain', ...(view ? { [VIEW_HEADER]: view } : {}) });
  res.end(`${hop}: ${reason}`);
}

export function relay(res: ServerResponse, reply: Reply, hopWhenUnreachable: string): void {
  if (reply.status === undefined) return reject(res, 502, hopWhenUnreachable, `next hop unreachable (${reply.error ?? 'no answer'})`);
  const headers: Record<string, string> = {};
  for (const name of [HOP_HEADER, REASON_HEADER, VIEW_HEADER]) {
    const value = headerValue(reply.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  res.writeHead(reply.status, headers);
  res.end();
}
