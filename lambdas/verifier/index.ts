/**
 * The origin verifier for upstream services: checks the origin-verify header against the secret in AWS
 * Secrets Manager, following the rotation protocol (lambdas/core/rotation-state.ts), so upstreams never
 * refuse a legitimate request during a rotation:
 * - AWSCURRENT is always accepted;
 * - AWSPENDING too while a rotation is under way (senders may switch to it any moment);
 * - the overlap version (normally AWSPREVIOUS) only while the overlap is open (tag
 *   `origin-guard:overlap-opened-at`), i.e. until `retire`.
 *
 * One DescribeSecret per refresh, plus one GetSecretValue per accepted version not seen before (a version's
 * value never changes). Values are cached for `cacheTtlSeconds`; when a refresh fails the last known values
 * keep being served, and a verifier that never loaded refuses everything (fails closed).
 *
 * Refresh health: the age of the last good refresh (timestamped *before* its reads, so a slow read never
 * makes old values look fresh) is reported through `health()` and, with `onMetric`, as a CloudWatch EMF line
 * (`OriginGuard` / `VerifierRefreshAgeSeconds`, dimension `Secret`) after every refresh attempt. The stack
 * alarms when it passes `maxStaleSeconds`, and origin-guard does not start a rotation while that alarm is on.
 * Past `maxStaleSeconds` the verifier keeps serving its last known values (refusing everything would take the
 * service down for a Secrets Manager outage); it is safe because no rotation starts while it is stale.
 *
 * Dependency-light on purpose: only `@aws-sdk/client-secrets-manager` and Node built-ins (the core files it
 * imports have no dependencies).
 *
 *   const verifier = createOriginVerifier({ secretId: 'origin-verify', headerName: 'x-kong-origin-verify', cacheTtlSeconds: 300 });
 *   app.use(verifier.middleware());
 */
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sameValue } from '../core/fingerprint.ts';
import type { SecretDescription } from '../core/ports.ts';
import { acceptedVersionIds, rotationView } from '../core/rotation-state.ts';

export interface OriginVerifierOptions {
  /** Name or ARN of the secret. */
  secretId: string;
  /** The header to check, e.g. `x-kong-origin-verify` (case-insensitive). */
  headerName: string;
  /** How long values are cached; origin-guard waits this long (its `secretsmanager-readers` validator) before relying on a change. */
  cacheTtlSeconds: number;
  client?: SecretsManagerClient;
  /** Region of the client created when `client` is absent (default: the SDK's own resolution). */
  region?: string;
  /** After a failed refresh, wait this long before trying again; default min(cacheTtlSeconds, 5). */
  retryAfterFailureSeconds?: number;
  /** Told about refresh failures (the error names the secret, never a value), e.g. to log them. */
  onRefreshError?: (error: unknown) => void;
  /** Milliseconds clock, for tests. */
  now?: () => number;
  /**
   * Receives one CloudWatch EMF line (JSON) after every refresh attempt with the age of the last good refresh;
   * write it to stdout in Lambda / ECS with the CloudWatch agent (e.g. `onMetric: (line) => console.log(line)`).
   */
  onMetric?: (emfLine: string) => void;
  /** The stale threshold reported by `health()` (the stack's alarm uses the same); default 3 × cacheTtlSeconds, at least 60. */
  maxStaleSeconds?: number;
}

/** How fresh the verifier's values are. */
export interface VerifierHealth {
  /** When the last good refresh started (its reads came after), or undefined before the first. */
  lastGoodRefreshAt?: Date;
  /** Seconds since then (Infinity before the first good refresh). */
  ageSeconds: number;
  /** Older than `maxStaleSeconds`: the stack's alarm fires, and no rotation starts. */
  stale: boolean;
  /** The last refresh attempt failed. */
  failing: boolean;
}

/** The metric the verifier reports and the stack alarms on. */
export const VERIFIER_METRIC = { namespace: 'OriginGuard', name: 'VerifierRefreshAgeSeconds', dimension: 'Secret' } as const;

/** One CloudWatch embedded-metric-format line for the refresh age of `secretId`. */
export function verifierEmfLine(secretId: string, ageSeconds: number, at: number = Date.now()): string {
  return JSON.stringify({
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [{ Namespace: VERIFIER_METRIC.namespace, Dimensions: [[VERIFIER_METRIC.dimension]], Metrics: [{ Name: VERIFIER_METRIC.name, Unit: 'Seconds' }] }],
    },
    [VERIFIER_METRIC.dimension]: secretId,
    // Before the first good refresh: report a large finite age (EMF takes numbers only).
    [VERIFIER_METRIC.name]: Number.isFinite(ageSeconds) ? Math.round(ageSeconds) : 1e9,
  });
}

/** The parts of Node's / Express's request and response the middleware uses. */
export interface VerifierRequest {
  headers: Record<string, string | string[] | undefined>;
}
export interface VerifierResponse {
  statusCode: number;
  setHeader?(name: string, value: string): unknown;
  end(body?: string): unknown;
}
export type VerifierNext = (error?: unknown) => void;

export interface OriginVerifier {
  /** Whether the header value is one of the accepted values (constant-time comparison). Never throws. */
  verify(headerValue: string | string[] | undefined): Promise<boolean>;
  /** Express / Connect middleware: `next()` when the header verifies, 403 otherwise. */
  middleware(): (req: VerifierRequest, res: VerifierResponse, next: VerifierNext) => void;
  /** Reloads now. Rejects when the reload fails (the last known values stay in use). */
  refresh(): Promise<void>;
  /** The age of the last good refresh, and whether it is stale. */
  health(): VerifierHealth;
}

/** The refresh failed; names the secret and the call, never a value. */
export class OriginVerifierError extends Error {
  override name = 'OriginVerifierError';
}

export function createOriginVerifier(options: OriginVerifierOptions): OriginVerifier {
  if (!options.secretId) throw new OriginVerifierError('createOriginVerifier: secretId is required');
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(options.headerName)) throw new OriginVerifierError('createOriginVerifier: headerName is not a valid header name');
  if (!(options.cacheTtlSeconds >= 0)) throw new OriginVerifierError('createOriginVerifier: cacheTtlSeconds must be 0 or more');

  const client = options.client ?? new SecretsManagerClient(options.region ? { region: options.region } : {});
  const now = options.now ?? Date.now;
  const ttlMs = options.cacheTtlSeconds * 1000;
  const retryMs = (options.retryAfterFailureSeconds ?? Math.min(options.cacheTtlSeconds, 5)) * 1000;
  const headerKey = options.headerName.toLowerCase();

  /** Undefined until the first successful load. */
  let accepted: string[] | undefined;
  let loadedAt = 0;
  let everLoaded = false;
  const maxStaleMs = (options.maxStaleSeconds ?? Math.max(60, 3 * options.cacheTtlSeconds)) * 1000;
  let failedAt: number | undefined;
  let inFlight: Promise<void> | undefined;
  const valueByVersion = new Map<string, string>();

  async function load(): Promise<void> {
    // Taken before the reads: the values are at least as fresh as this, never fresher.
    const startedAt = now();
    let described;
    try {
      described = await client.send(new DescribeSecretCommand({ SecretId: options.secretId }));
    } catch (error) {
      throw new OriginVerifierError(`cannot describe secret ${options.secretId}: ${(error as Error)?.name ?? 'error'}`, { cause: error });
    }
    const secret: SecretDescription = {
      arn: described.ARN ?? '',
      name: described.Name ?? options.secretId,
      versions: Object.entries(described.VersionIdsToStages ?? {}).map(([versionId, stages]) => ({ versionId, stages: [...stages] })),
      tags: Object.fromEntries((described.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      rotationEnabled: described.RotationEnabled ?? false,
    };
    const view = rotationView(secret);
    const ids = acceptedVersionIds(view);
    const values: string[] = [];
    for (const versionId of ids) {
      let value = valueByVersion.get(versionId);
      if (value === undefined) {
        try {
          const got = await client.send(new GetSecretValueCommand({ SecretId: options.secretId, VersionId: versionId }));
          value = got.SecretString ?? '';
        } catch (error) {
          // A pending version has no value for a moment at the start of every deployed rotation (RotateSecret
          // labels an empty version first), and an old overlap version may be gone: neither is fatal.
          const missing = (error as Error)?.name === 'ResourceNotFoundException';
          if (missing && versionId !== view.currentVersionId) continue;
          throw new OriginVerifierError(`cannot read version ${versionId} of secret ${options.secretId}: ${(error as Error)?.name ?? 'error'}`, { cause: error });
        }
        valueByVersion.set(versionId, value);
      }
      if (value !== '' && !values.includes(value)) values.push(value);
    }
    if (values.length === 0) throw new OriginVerifierError(`secret ${options.secretId} has no AWSCURRENT value to accept`);
    for (const versionId of valueByVersion.keys()) if (!ids.includes(versionId)) valueByVersion.delete(versionId);
    accepted = values;
    loadedAt = startedAt;
    everLoaded = true;
    failedAt = undefined;
  }

  function health(): VerifierHealth {
    const ageMs = everLoaded ? now() - loadedAt : Number.POSITIVE_INFINITY;
    return {
      ...(everLoaded ? { lastGoodRefreshAt: new Date(loadedAt) } : {}),
      ageSeconds: ageMs / 1000,
      stale: ageMs > maxStaleMs,
      failing: failedAt !== undefined,
    };
  }

  function report(): void {
    if (!options.onMetric) return;
    try {
      options.onMetric(verifierEmfLine(options.secretId, health().ageSeconds, now()));
    } catch {
      // Reporting never breaks verification.
    }
  }

  function refresh(): Promise<void> {
    // One refresh at a time, shared by every request waiting for it.
    inFlight ??= load()
      .catch((error: unknown) => {
        failedAt = now();
        options.onRefreshError?.(error);
        throw error;
      })
      .finally(() => {
        inFlight = undefined;
        report();
      });
    return inFlight;
  }

  async function ensureFresh(): Promise<void> {
    const t = now();
    if (accepted !== undefined && t - loadedAt < ttlMs) return;
    if (failedAt !== undefined && t - failedAt < retryMs) return;
    try {
      await refresh();
    } catch {
      // Keep serving the last known values; without any, verify() refuses.
    }
  }

  async function verify(headerValue: string | string[] | undefined): Promise<boolean> {
    // Several values for one header are ambiguous (and Node already joins repeated custom headers).
    const candidate = Array.isArray(headerValue) ? (headerValue.length === 1 ? headerValue[0] : undefined) : headerValue;
    if (candidate === undefined || candidate === '') return false;
    await ensureFresh();
    const values = accepted;
    if (!values || values.length === 0) return false;
    let match = false;
    // Compare with every value, without stopping early, so timing does not tell which one matched.
    for (const value of values) match = sameValue(candidate, value) || match;
    return match;
  }

  function middleware() {
    return (req: VerifierRequest, res: VerifierResponse, next: VerifierNext): void => {
      verify(req.headers[headerKey]).then(
        (ok) => {
          if (ok) return next();
          res.statusCode = 403;
          res.setHeader?.('content-type', 'text/plain; charset=utf-8');
          res.end('Forbidden');
        },
        (error: unknown) => next(error),
      );
    };
  }

  return { verify, middleware, refresh, health };
}
