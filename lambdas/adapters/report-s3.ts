/**
 * Writes the posture page to the S3 bucket of `report.bucket` (created by the stack: encrypted, TLS-only,
 * versioned, private). The page holds fingerprints, never secret values.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ReportConfig } from '../config.ts';
import { TargetError } from '../core/errors.ts';

/**
 * A client for the report bucket, loaded only when a report is configured (it is not worth its cold-start
 * time to the audits that write none). Path-style addressing against an emulator (AWS_ENDPOINT_URL).
 */
export async function createReportS3Client(region: string, env: NodeJS.ProcessEnv = process.env): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({ region, ...(env.AWS_ENDPOINT_URL ? { forcePathStyle: true } : {}) });
}

export class S3PostureReportStore {
  constructor(
    private readonly client: S3Client,
    readonly report: ReportConfig,
  ) {}

  async put(html: string): Promise<{ versionId?: string }> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.report.bucket,
          Key: this.report.key,
          Body: html,
          ContentType: 'text/html; charset=utf-8',
          CacheControl: 'no-store',
        }),
      );
      return out.VersionId ? { versionId: out.VersionId } : {};
    } catch (error) {
      const name = (error as { name?: string })?.name ?? 'Error';
      const hint = name === 'NoSuchBucket' ? ' Deploy the stack (it creates report.bucket) or fix report.bucket in the config.' : name === 'AccessDenied' ? ' The role needs s3:PutObject on the page key.' : '';
      throw new TargetError(`s3://${this.report.bucket}/${this.report.key}`, `writing the posture page failed (${name}: ${(error as Error).message}).${hint}`, {
        cause: error,
        retryable: name.includes('Throttl') || name === 'SlowDown' || name === 'InternalError',
      });
    }
  }
}
