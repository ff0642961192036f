/**
 * Plumbing shared by the fake HTTP servers (fake-kong.ts, fake-konnect.ts): a loopback server on port 0,
 * a request log, JSON bodies, and scripted faults (down, fail the next N requests).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/routes/api`. */
  path: string;
  /** Parsed query parameters (last value wins), e.g. `{ 'filter[control_plane_id][eq]': 'cp-1' }`. */
  query: Record<string, string>;
  /** Lower-cased request headers as Node parsed them. */
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or the raw text when it was not JSON; undefined when empty. */
  body?: unknown;
  /** Status the fake answered with (0 when the socket was destroyed). */
  status: number;
  /** The body the fake answered with (parsed JSON as sent; undefined when empty or reset). */
  responseBody?: unknown;
  /** The response's content type, when it had a body. */
  responseContentType?: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** True when a body was sent but could not be parsed as JSON. */
  badJson: boolean;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw text sent as is (for malformed answers); wins over body. */
  raw?: string;
}

/** One scripted fault: answer the next `times` matching requests with `reply` (or reset the connection). */
export interface ScriptedFault {
  times: number;
  reply?: FakeReply;
  /** Destroy the socket instead of answering (connection reset). */
  reset?: boolean;
  /** Only requests whose path contains this substring (default: every request). */
  pathIncludes?: string;
  method?: string;
}

export interface FakeHttpServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Queue a fault; faults are consumed in order, each for its `times` matching requests. */
  addFault(fault: ScriptedFault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large for the fake');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, reply: FakeReply, record?: RecordedRequest): void {
  if (record) {
    record.status = reply.status;
    record.responseBody = reply.raw !== undefined ? reply.raw : reply.body === undefined ? undefined : structuredClone(reply.body);
    if (reply.raw !== undefined || reply.body !== undefined) record.responseContentType = reply.headers?.['content-type'] ?? 'application/json; charset=utf-8';
  }
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload = '';
  if (reply.raw !== undefined) {
    payload = reply.raw;
    headers['content-type'] ??= 'application/json; charset=utf-8';
  } else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/**
 * Starts an HTTP server on 127.0.0.1:0. `handle` answers parsed requests; faults and the request log are
 * handled here so both fakes behave the same.
 */
export async function startFakeHttpServer(
  handle: (req: FakeRequest) => FakeReply | undefined | Promise<FakeReply | undefined>,
  options: { beforeHandle?: (req: FakeRequest) => FakeReply | 'reset' | undefined } = {},
): Promise<FakeHttpServer> {
  const requests: RecordedRequest[] = [];
  const faults: ScriptedFault[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    let text = '';
    try {
      text = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    let body: unknown;
    let badJson = false;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
        badJson = true;
      }
    }
    const parsed: FakeRequest = { method: req.method ?? 'GET', path: decodeURI(url.pathname), query, headers: req.headers, body, badJson };
    const record: RecordedRequest = { method: parsed.method, path: parsed.path, query, headers: { ...req.headers }, body, status: 0 };
    requests.push(record);

    const early = options.beforeHandle?.(parsed);
    const faultIndex = faults.findIndex(
      (f) => f.times > 0 && (!f.pathIncludes || parsed.path.includes(f.pathIncludes)) && (!f.method || f.method === parsed.method),
    );
    if (early === 'reset') {
      req.socket.destroy();
      return;
    }
    if (early) {
      send(res, early, record);
      return;
    }
    if (faultIndex >= 0) {
      const fault = faults[faultIndex];
      fault.times -= 1;
      if (fault.times <= 0) faults.splice(faultIndex, 1);
      if (fault.reset || !fault.reply) {
        req.socket.destroy();
        return;
      }
      send(res, fault.reply, record);
      return;
    }
    let reply: FakeReply | undefined;
    try {
      reply = await handle(parsed);
    } catch (error) {
      reply = { status: 500, body: { message: `fake server error: ${(error as Error).message}` } };
    }
    reply ??= { status: 404, body: { message: 'Not found' } };
    send(res, reply, record);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addFault: (fault) => {
      if (fault.times > 0) faults.push({ ...fault });
    },
    clearFaults: () => void faults.splice(0, faults.length),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Seconds since the epoch, as Kong stores `created_at` / `updated_at`. */
export function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
