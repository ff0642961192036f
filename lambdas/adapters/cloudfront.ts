/**
 * CloudFront distribution as a sender: its origins attach the origin-verify header as an origin custom
 * header. Only that one header on the listed origins is origin-guard's; the rest of the distribution is sent
 * back exactly as read.
 */
import {
  GetDistributionCommand,
  GetDistributionConfigCommand,
  UpdateDistributionCommand,
  type CloudFrontClient,
  type DistributionConfig,
  type Origin,
  type OriginCustomHeader,
} from '@aws-sdk/client-cloudfront';
import { ConcurrentModificationError, TargetError } from '../core/errors.ts';
import { fingerprint, sameValue } from '../core/fingerprint.ts';
import type { SenderPort, SenderPropagation } from '../core/ports.ts';
import { retryReadModifyWrite, type WriteRetryOptions } from './retry.ts';

export interface CloudFrontSenderOptions {
  distributionId: string;
  /** Origins that carry the header; every origin of the distribution when absent. */
  originIds?: string[];
  /** Kept in this spelling when written; matched case-insensitively, as CloudFront does. */
  headerName: string;
  /** Retries of the read-modify-write (defaults: 5 attempts, 200 ms base backoff, 60 s in all). */
  retry?: WriteRetryOptions;
}

export class CloudFrontSender implements SenderPort {
  readonly id: string;

  constructor(
    private readonly client: CloudFrontClient,
    private readonly options: CloudFrontSenderOptions,
  ) {
    this.id = `cloudfront:${options.distributionId}`;
  }

  async send(value: string): Promise<void> {
    if (value === '') throw new TargetError(this.id, 'refusing to send an empty header value; check the secret.');
    await retryReadModifyWrite(this.id, 'distribution', () => this.sendOnce(value), {
      baseDelayMs: 200,
      maxElapsedMs: 60_000,
      ...this.options.retry,
    });
  }

  /** One read-modify-write; a stale ETag or throttling surfaces as a retryable TargetError. */
  private async sendOnce(value: string): Promise<void> {
    const { config, etag } = await this.readConfig();
    const selected = new Set(this.selectedOrigins(config).map((origin) => origin.Id));
    let changed = false;
    const origins = (config.Origins?.Items ?? []).map((origin) => {
      if (!selected.has(origin.Id)) return origin;
      const updated = withCustomHeader(origin, this.options.headerName, value);
      if (updated === origin) return origin;
      changed = true;
      return updated;
    });
    if (!changed) return;

    const next: DistributionConfig = { ...config, Origins: { Quantity: origins.length, Items: origins } };
    try {
      await this.client.send(new UpdateDistributionCommand({ Id: this.options.distributionId, IfMatch: etag, DistributionConfig: next }));
    } catch (error) {
      throw cloudFrontError(this.id, 'updating the distribution (UpdateDistribution)', 'cloudfront:UpdateDistribution', error, [value]);
    }
  }

  async sending(): Promise<string[]> {
    const { config } = await this.readConfig();
    const values = this.selectedOrigins(config).flatMap((origin) => headerValuesOf(origin, this.options.headerName));
    return [...new Set(values)];
  }

  /** CloudFront reports its own deployment state, so the switch time is not needed. */
  async propagated(value: string, _since?: Date, _now?: Date): Promise<SenderPropagation> {
    let response;
    try {
      response = await this.client.send(new GetDistributionCommand({ Id: this.options.distributionId }));
    } catch (error) {
      throw cloudFrontError(this.id, 'reading the distribution (GetDistribution)', 'cloudfront:GetDistribution', error);
    }
    const distribution = response.Distribution;
    const config = distribution?.DistributionConfig;
    if (!distribution || !config) {
      throw new TargetError(this.id, 'GetDistribution returned no distribution; retry later.', { retryable: true });
    }
    const status = distribution.Status ?? 'Unknown';
    const lagging = this.selectedOrigins(config)
      .filter((origin) => {
        const values = headerValuesOf(origin, this.options.headerName);
        return values.length !== 1 || !sameValue(values[0], value);
      })
      .map((origin) => origin.Id);
    if (lagging.length > 0) {
      return { done: false, detail: `${status}; origin(s) ${lagging.join(', ')} not configured to send the value yet` };
    }
    return { done: status === 'Deployed', detail: status };
  }

  private async readConfig(): Promise<{ config: DistributionConfig; etag: string }> {
    let response;
    try {
      response = await this.client.send(new GetDistributionConfigCommand({ Id: this.options.distributionId }));
    } catch (error) {
      throw cloudFrontError(this.id, 'reading the distribution config (GetDistributionConfig)', 'cloudfront:GetDistributionConfig', error);
    }
    if (!response.DistributionConfig || !response.ETag) {
      throw new TargetError(this.id, 'GetDistributionConfig returned no config or no ETag; retry later.', { retryable: true });
    }
    return { config: response.DistributionConfig, etag: response.ETag };
  }

  /** The configured origins, or all of them; an unknown id is a configuration error, named. */
  private selectedOrigins(config: DistributionConfig): Origin[] {
    const origins = config.Origins?.Items ?? [];
    const wanted = this.options.originIds;
    if (!wanted) return origins;
    const known = origins.map((origin) => origin.Id ?? '');
    const missing = wanted.filter((id) => !known.includes(id));
    if (missing.length > 0) {
      throw new TargetError(
        this.id,
        `origin id(s) ${missing.map((id) => `"${id}"`).join(', ')} not found in the distribution, whose origins are ` +
          `${known.map((id) => `"${id}"`).join(', ') || '(none)'}. Fix senders[].originIds in the configuration.`,
      );
    }
    return origins.filter((origin) => wanted.includes(origin.Id ?? ''));
  }
}

function sameHeaderName(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

function headerValuesOf(origin: Origin, headerName: string): string[] {
  return (origin.CustomHeaders?.Items ?? [])
    .filter((header) => sameHeaderName(header.HeaderName, headerName))
    .map((header) => header.HeaderValue ?? '');
}

/**
 * `origin` sending `value` in `headerName`, or `origin` itself when it already does. The header stays where
 * it was among the origin's headers; a duplicate in another spelling is folded into it.
 */
function withCustomHeader(origin: Origin, headerName: string, value: string): Origin {
  const items = origin.CustomHeaders?.Items ?? [];
  const current = items.filter((header) => sameHeaderName(header.HeaderName, headerName));
  if (current.length === 1 && sameValue(current[0].HeaderValue ?? '', value)) return origin;

  const ours: OriginCustomHeader = { HeaderName: headerName, HeaderValue: value };
  const at = items.findIndex((header) => sameHeaderName(header.HeaderName, headerName));
  const others = items.filter((header) => !sameHeaderName(header.HeaderName, headerName));
  const next = at === -1 ? [...others, ours] : [...others.slice(0, at), ours, ...others.slice(at)];
  return { ...origin, CustomHeaders: { Quantity: next.length, Items: next } };
}

// ---------- read model for the audit ----------

export interface OriginView {
  id: string;
  domainName: string;
  kind: 'custom' | 's3' | 'vpc';
  /** `https-only`, `match-viewer`, `http-only` (custom origins). */
  protocolPolicy?: string;
  /** TLS versions CloudFront may use towards the origin, e.g. ['TLSv1.2']. */
  originSslProtocols: string[];
  /** Names as configured and a fingerprint of each value: never the value. */
  customHeaders: Array<{ name: string; valueFingerprint: string }>;
  originAccessControlId?: string;
  /** The legacy origin access identity of an S3 origin (`origin-access-identity/cloudfront/ID`). */
  originAccessIdentity?: string;
  /** The VPC origin id of a VPC origin. */
  vpcOriginId?: string;
}

export interface CacheBehaviorView {
  /** `*` for the default cache behavior. */
  pathPattern: string;
  targetOriginId: string;
  viewerProtocolPolicy: string;
}

export interface DistributionView {
  id: string;
  arn?: string;
  domainName?: string;
  /** `Deployed` or `InProgress`. */
  status: string;
  enabled: boolean;
  aliases: string[];
  /** WAFv2 web ACL ARN (or WAF classic id); undefined when none is attached. */
  webAclId?: string;
  origins: OriginView[];
  viewerProtocolPolicies: CacheBehaviorView[];
  /** Minimum TLS version towards viewers, e.g. `TLSv1.2_2021`. */
  minimumViewerTlsVersion?: string;
  usesDefaultCertificate: boolean;
  /** Standard (legacy) access logging to S3. */
  loggingEnabled: boolean;
}

/** What the audit needs to know about a distribution, without any header value. */
export async function getDistributionView(client: CloudFrontClient, distributionId: string): Promise<DistributionView> {
  const target = `cloudfront:${distributionId}`;
  let response;
  try {
    response = await client.send(new GetDistributionCommand({ Id: distributionId }));
  } catch (error) {
    throw cloudFrontError(target, 'reading the distribution (GetDistribution)', 'cloudfront:GetDistribution', error);
  }
  const distribution = response.Distribution;
  const config = distribution?.DistributionConfig;
  if (!distribution || !config) throw new TargetError(target, 'GetDistribution returned no distribution; retry later.', { retryable: true });

  const origins: OriginView[] = (config.Origins?.Items ?? []).map((origin) => ({
    id: origin.Id ?? '',
    domainName: origin.DomainName ?? '',
    kind: origin.CustomOriginConfig ? 'custom' : origin.VpcOriginConfig ? 'vpc' : 's3',
    protocolPolicy: origin.CustomOriginConfig?.OriginProtocolPolicy,
    originSslProtocols: origin.CustomOriginConfig?.OriginSslProtocols?.Items ?? [],
    customHeaders: (origin.CustomHeaders?.Items ?? []).map((header) => ({
      name: header.HeaderName ?? '',
      valueFingerprint: fingerprint(header.HeaderValue ?? ''),
    })),
    originAccessControlId: origin.OriginAccessControlId || undefined,
    originAccessIdentity: origin.S3OriginConfig?.OriginAccessIdentity || undefined,
    vpcOriginId: origin.VpcOriginConfig?.VpcOriginId || undefined,
  }));
  const defaultBehavior = config.DefaultCacheBehavior;
  const viewerProtocolPolicies: CacheBehaviorView[] = [
    ...(defaultBehavior
      ? [{ pathPattern: '*', targetOriginId: defaultBehavior.TargetOriginId ?? '', viewerProtocolPolicy: defaultBehavior.ViewerProtocolPolicy ?? '' }]
      : []),
    ...(config.CacheBehaviors?.Items ?? []).map((behavior) => ({
      pathPattern: behavior.PathPattern ?? '',
      targetOriginId: behavior.TargetOriginId ?? '',
      viewerProtocolPolicy: behavior.ViewerProtocolPolicy ?? '',
    })),
  ];
  return {
    id: distribution.Id ?? distributionId,
    arn: distribution.ARN,
    domainName: distribution.DomainName,
    status: distribution.Status ?? 'Unknown',
    enabled: config.Enabled ?? false,
    aliases: config.Aliases?.Items ?? [],
    // CloudFront reports "no web ACL" as an empty string.
    webAclId: config.WebACLId || undefined,
    origins,
    viewerProtocolPolicies,
    minimumViewerTlsVersion: config.ViewerCertificate?.MinimumProtocolVersion,
    // moto keeps CloudFrontDefaultCertificate true next to an ACM or IAM certificate; a named certificate wins.
    usesDefaultCertificate:
      (config.ViewerCertificate?.CloudFrontDefaultCertificate ?? false) && !config.ViewerCertificate?.ACMCertificateArn && !config.ViewerCertificate?.IAMCertificateId,
    loggingEnabled: config.Logging?.Enabled ?? false,
  };
}

// ---------- errors and retries ----------

/** CloudFront's InvalidArgument can quote the offending header value: replace it with its fingerprint. */
function redactValues(text: string, values: string[]): string {
  let out = text;
  for (const value of values) out = out.split(value).join(`<value ${fingerprint(value)}>`);
  return out;
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** Translates an SDK error into the core's vocabulary. */
function cloudFrontError(target: string, doing: string, permission: string, error: unknown, values: string[] = []): TargetError {
  const name = (error as { name?: string })?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const said = redactValues(error instanceof Error ? `${name}: ${error.message}` : String(error), values);
  switch (name) {
    case 'PreconditionFailed':
      return new ConcurrentModificationError(target, `the distribution changed while ${doing} (stale ETag); re-reading and retrying.`, {
        cause: error,
        retryable: true,
      });
    case 'NoSuchDistribution':
      return new TargetError(target, `${doing} failed: the distribution does not exist. Check senders[].distributionId. (${said})`, {
        cause: error,
      });
    case 'AccessDenied':
    case 'AccessDeniedException':
      return new TargetError(target, `${doing} failed: access denied. Grant ${permission} on the distribution. (${said})`, {
        cause: error,
      });
  }
  if (THROTTLING.has(name) || (status !== undefined && status >= 500)) {
    return new TargetError(target, `${doing} failed: CloudFront is throttling or unavailable; retry later. (${said})`, {
      cause: error,
      retryable: true,
    });
  }
  return new TargetError(target, `${doing} failed. (${said})`, { cause: error });
}
