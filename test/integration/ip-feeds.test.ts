import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpIpFeeds } from '../../lambdas/adapters/ip-feeds.ts';
import { SourceError } from '../../lambdas/core/errors.ts';

let server: Server;
let base: string;
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/ips-v4':
        res.end('173.245.48.0/20\n103.21.244.0/22\n');
        return;
      case '/moved':
        res.statusCode = 301;
        res.setHeader('location', '/ips-v4');
        res.end();
        return;
      case '/to-plain-http':
        res.statusCode = 302;
        res.setHeader('location', 'http://203.0.113.9/ips-v4');
        res.end();
        return;
      case '/error':
        res.statusCode = 503;
        res.end('try later');
        return;
      case '/slow':
        timers.add(setTimeout(() => res.end('late'), 2_000));
        return;
      case '/huge-declared':
        res.setHeader('content-length', String(10_000));
        res.end('x'.repeat(10_000));
        return;
      case '/huge-chunked':
        // No content-length: the limit must hold while reading.
        for (let i = 0; i < 10; i++) res.write('x'.repeat(1_000));
        res.end();
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const feeds = new HttpIpFeeds({ timeoutMs: 300, maxBytes: 5_000 });

async function failure(url: string): Promise<SourceError> {
  const error = await feeds.fetchText(url, 'test-source').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  expect((error as SourceError).source).toBe('test-source');
  return error as SourceError;
}

describe('HttpIpFeeds', () => {
  it('reads http(s) and file:// URLs', async () => {
    expect(await feeds.fetchText(`${base}/ips-v4`, 'cloudflare')).toBe('173.245.48.0/20\n103.21.244.0/22\n');
    const file = pathToFileURL(new URL('../fixtures/cloudflare-ips-v6.txt', import.meta.url).pathname).href;
    expect(await feeds.fetchText(file, 'cloudflare')).toMatch(/^2400:cb00::\/32/);
  });

  it('fails closed on an HTTP error, a timeout, and bodies over the size limit', async () => {
    expect((await failure(`${base}/error`)).message).toMatch(/HTTP 503/);
    expect((await failure(`${base}/slow`)).message).toMatch(/timed out after 300 ms/);
    expect((await failure(`${base}/huge-declared`)).message).toMatch(/10000 bytes, more than the 5000/);
    expect((await failure(`${base}/huge-chunked`)).message).toMatch(/larger than the 5000 bytes/);
  });

  it('refuses redirects: the feed must be read from the configured URL', async () => {
    expect((await failure(`${base}/moved`)).message).toMatch(/answered a redirect \(HTTP 301\) to http:\/\/127\.0\.0\.1:\d+\/ips-v4;/);
    expect((await failure(`${base}/to-plain-http`)).message).toMatch(/redirect \(HTTP 302\) to http:\/\/203\.0\.113\.9\/ips-v4/);
  });

  it('refuses plain http:// except on loopback hosts, before any request', async () => {
    for (const url of ['http://ip-ranges.example.com/ip-ranges.json', 'http://203.0.113.9/ips', 'http://localhost.example.com/ips']) {
      expect((await failure(url)).message, url).toMatch(/plain http:\/\/ is refused.*use https:\/\//);
    }
    // Loopback hosts are allowed (local fakes): these fail to connect, not for their scheme.
    for (const url of ['http://localhost:1/ips', 'http://[::1]:1/ips']) {
      expect((await failure(url)).message, url).not.toMatch(/plain http/);
    }
  });

  it('fails closed on a missing or oversized file and an unsupported scheme', async () => {
    expect((await failure(pathToFileURL('/nonexistent/ip-ranges.json').href)).message).toMatch(/ENOENT/);
    const big = pathToFileURL(new URL('../fixtures/aws-ip-ranges.json', import.meta.url).pathname).href;
    expect((await failure(big)).message).toMatch(/more than the 5000 accepted/);
    expect((await failure('ftp://example.com/ips')).message).toMatch(/unsupported URL scheme/);
  });
});
