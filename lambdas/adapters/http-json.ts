/**
 * JSON over HTTP for the adapters that talk to HTTP APIs (Kong Admin API, Konnect): bounded timeouts,
 * bounded retries on 429 / 5xx / connection errors honouring `Retry-After`, and redaction so that a
 * response echoing a secret value cannot carry it into an error message.
 */

export interface HttpSettings {
  fetch: typeof fetch;
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts in all, including the first (1 = no retry). */
  maxAttempts: number;
  /** Longest wait between two attempts, whatever `Retry-After` asks for. */
  maxRetryDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const defaultHttpSettings = (overrides: Partial<HttpSettings> = {}): HttpSettings => ({
  fetch: overrides.fetch ?? globalThis.fetch,
  timeoutMs: overrides.timeoutMs ?? 10_000,
  maxAttempts: Math.min(Math.max(overrides.maxAttempts ?? 3, 1), 10),
  maxRetryDelayMs: overrides.maxRetryDelayMs ?? 5_000,
  sleep: overrides.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
});

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /**
   * Whether repeating the request is harmless. Non-idempotent requests are retried only on 429 (the server
   * says it did not process them), never after a lost answer.
   */
  idempotent: boolean;
  /** Strings (secret values, tokens) to blank out of any text taken from the response. */
  sensitive?: string[];
}

export interface JsonResponse {
  status: number;
  /** Parsed JSON, or undefined when the body was empty or not JSON (see `text`). */
  json: unknown;
  /** Raw body, redacted and cut to 300 characters: for error messages only. */
  excerpt: string;
  headers: Headers;
  attempts: number;
  /** Blanks the request's sensitive strings out of text taken from `json` (messages, details). */
  redact(text: string): string;
}

/** The server could not be reached (refused, reset, DNS, timeout) after every attempt. */
export class HttpUnreachableError extends Error {
  override name = 'HttpUnreachableError';
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`${endpoint}: ${reason} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`, options);
  }
}

/** `https://user:pass@host/x?y` → `https://host/x?y`: URLs in messages never carry credentials. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

export function redact(text: string, sensitive: readonly string[] = []): string {
  let out = text;
  for (const s of sensitive) {
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

/** Seconds (`Retry-After: 2`) or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFetchFailure(error: unknown): string {
  const err = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err?.name === 'TimeoutError') return 'timed out';
  if (err?.name === 'AbortError') return 'aborted';
  const code = err?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return code ?? err?.cause?.message ?? err?.message ?? 'request failed';
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/**
 * Sends one JSON request with retries. Returns the last response whatever its status (callers map statuses
 * to their own errors); throws HttpUnreachableError when no response came back.
 */
export async function requestJson(request: JsonRequest, settings: HttpSettings): Promise<JsonResponse> {
  const endpoint = `${request.method} ${safeUrl(request.url)}`;
  const headers: Record<string, string> = { accept: 'application/json', ...(request.headers ?? {}) };
  let payload: string | undefined;
  if (request.body !== undefined) {
    payload = JSON.stringify(request.body);
    headers['content-type'] = 'application/json';
  }
  let lastFailure: unknown;
  let lastReason = 'request failed';
  let attempts = 0;
  for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
    attempts = attempt;
    let response: Response | undefined;
    try {
      response = await settings.fetch(request.url, {
        method: request.method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(settings.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      lastFailure = error;
      lastReason = describeFetchFailure(error);
    }
    if (response) {
      let text = '';
      try {
        text = await response.text();
      } catch (error) {
        lastFailure = error;
        lastReason = describeFetchFailure(error);
        response = undefined;
      }
      if (response) {
        const retryable = response.status === 429 || (request.idempotent && RETRYABLE_STATUS.has(response.status));
        if (!retryable || attempt === settings.maxAttempts) {
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          const sensitive = request.sensitive ?? [];
          return {
            status: response.status,
            json,
            excerpt: redact(text, sensitive).slice(0, 300),
            headers: response.headers,
            attempts: attempt,
            redact: (t) => redact(t, sensitive),
          };
        }
        const wait = retryAfterMs(response.headers.get('retry-after')) ?? backoffMs(attempt);
        await settings.sleep(Math.min(wait, settings.maxRetryDelayMs));
        continue;
      }
    }
    if (!request.idempotent || attempt === settings.maxAttempts) break;
    await settings.sleep(Math.min(backoffMs(attempt), settings.maxRetryDelayMs));
  }
  throw new HttpUnreachableError(endpoint, lastReason, attempts, { cause: lastFailure });
}

/** 200 ms, 400 ms, 800 ms, ... with ±20 % jitter so parallel Lambdas do not retry in step. */
function backoffMs(attempt: number): number {
  const base = 200 * 2 ** (attempt - 1);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
