import { describe, expect, it } from 'vitest';
import { defaultHttpSettings, HttpUnreachableError, requestJson, retryAfterMs, safeUrl } from '../../lambdas/adapters/http-json.ts';

/** A fetch that answers from a script, recording each call. */
function scriptedFetch(statuses: Array<number | 'reset'>, headers: Record<string, string> = {}) {
  const calls: string[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    calls.push(String(init.method));
    const next = statuses[Math.min(calls.length - 1, statuses.length - 1)];
    if (next === 'reset') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    return new Response(JSON.stringify({ ok: next < 400 }), { status: next, headers });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

const settings = (fetch: typeof globalThis.fetch, slept: number[] = []) =>
  defaultHttpSettings({ fetch, maxAttempts: 3, maxRetryDelayMs: 5_000, sleep: async (ms) => void slept.push(ms) });

describe('requestJson', () => {
  it('retries 5xx for idempotent requests, never for a POST', async () => {
    const put = scriptedFetch([503, 503, 200]);
    expect((await requestJson({ method: 'PUT', url: 'http://127.0.0.1:1/x', idempotent: true }, settings(put.fetch))).status).toBe(200);
    expect(put.calls).toHaveLength(3);

    const post = scriptedFetch([503, 200]);
    expect((await requestJson({ method: 'POST', url: 'http://127.0.0.1:1/x', idempotent: false }, settings(post.fetch))).status).toBe(503);
    expect(post.calls).toHaveLength(1);
  });

  it('retries 429 even for a POST, waiting what Retry-After asks within the cap', async () => {
    const slept: number[] = [];
    const post = scriptedFetch([429, 429, 201], { 'retry-after': '30' });
    const res = await requestJson({ method: 'POST', url: 'http://127.0.0.1:1/x', idempotent: false }, settings(post.fetch, slept));
    expect(res.status).toBe(201);
    expect(slept).toEqual([5_000, 5_000]);
  });

  it('throws HttpUnreachableError after bounded attempts when no answer comes', async () => {
    const down = scriptedFetch(['reset']);
    const error = await requestJson({ method: 'GET', url: 'http://user:pw@127.0.0.1:1/x', idempotent: true }, settings(down.fetch)).catch((e) => e);
    expect(error).toBeInstanceOf(HttpUnreachableError);
    expect(error.message).toBe('GET http://127.0.0.1:1/x: connection reset (after 3 attempts)');
    expect(down.calls).toHaveLength(3);
  });

  it('redacts sensitive strings from what it returns for messages', async () => {
    const secret = 'super-secret-value';
    const fetch = (async () => new Response(JSON.stringify({ message: `bad ${secret}` }), { status: 400 })) as unknown as typeof globalThis.fetch;
    const res = await requestJson({ method: 'PUT', url: 'http://127.0.0.1:1/x', idempotent: true, sensitive: [secret] }, settings(fetch));
    expect(res.excerpt).toBe('{"message":"bad [redacted]"}');
    expect(res.redact(`x ${secret}`)).toBe('x [redacted]');
  });
});

describe('retryAfterMs and safeUrl', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2_000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('drops credentials from URLs', () => {
    expect(safeUrl('https://admin:hunter2@kong:8444/ws')).toBe('https://kong:8444/ws');
  });
});
