/**
 * A recording proxy on 127.0.0.1 in front of moto: the bundles' endpoint override points here, so every AWS
 * request a bundle sends is recorded (who sent it, by its access key; service and region from the SigV4
 * credential scope; the action and its parameters from the wire protocol) and then forwarded unchanged.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  /** The access key id the request was signed with: one per deployed function. */
  accessKeyId: string;
  service: string;
  region: string;
  /** API action, e.g. `GetSecretValue`. */
  action: string;
  /** The request's parameters (JSON body, query-protocol form fields, or REST path parameters). */
  params: Record<string, any>;
  status?: number;
}

export interface RecordingProxy {
  url: string;
  calls: RecordedCall[];
  close(): Promise<void>;
}

const CLOUDFRONT_PATHS: Array<[string, RegExp, string]> = [
  ['GET', /^\/\d{4}-\d{2}-\d{2}\/distribution\/([^/]+)\/config$/, 'GetDistributionConfig'],
  ['PUT', /^\/\d{4}-\d{2}-\d{2}\/distribution\/([^/]+)\/config$/, 'UpdateDistribution'],
  ['GET', /^\/\d{4}-\d{2}-\d{2}\/distribution\/([^/]+)$/, 'GetDistribution'],
  ['GET', /^\/\d{4}-\d{2}-\d{2}\/distribution$/, 'ListDistributions'],
];

/** Service, action and parameters of one SDK request, from its headers and body. */
export function parseAwsRequest(method: string, url: string, headers: IncomingMessage['headers'], body: string): Omit<RecordedCall, 'status'> {
  const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(headers.authorization ?? ''));
  if (!scope) throw new Error(`unsigned request ${method} ${url}: every AWS call of a bundle must be signed with its role's credentials`);
  const [, accessKeyId, region, service] = scope;
  const target = headers['x-amz-target'];
  if (typeof target === 'string') {
    return { accessKeyId, region, service, action: target.split('.').pop()!, params: body ? JSON.parse(body) : {} };
  }
  const contentType = String(headers['content-type'] ?? '');
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const form = Object.fromEntries(new URLSearchParams(body));
    return { accessKeyId, region, service, action: form.Action, params: form };
  }
  const path = new URL(url, 'http://proxy').pathname;
  for (const [m, pattern, action] of CLOUDFRONT_PATHS) {
    const match = m === method ? pattern.exec(path) : null;
    if (match) return { accessKeyId, region, service, action, params: match[1] ? { Id: decodeURIComponent(match[1]) } : {} };
  }
  return { accessKeyId, region, service, action: `${method} ${path}`, params: {} };
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const calls: RecordedCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let call: RecordedCall;
      try {
        call = parseAwsRequest(req.method ?? 'GET', req.url ?? '/', req.headers, body.toString('utf8'));
      } catch (error) {
        call = { accessKeyId: 'unsigned', service: 'unknown', region: '', action: `${req.method} ${req.url}`, params: { error: (error as Error).message } };
      }
      calls.push(call);
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          call.status = answer.statusCode;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
