import type { ReportConfig } from '../config.ts';

/** Where a person opens the page: the S3 console's object view (the bucket is private). */
export function reportConsoleUrl(report: ReportConfig, region: string): string {
  return `https://${region}.console.aws.amazon.com/s3/object/${report.bucket}?region=${region}&prefix=${encodeURIComponent(report.key)}`;
}
