import { readFileSync } from 'node:fs';

/** One line of test/fixtures/cloudfront-history.jsonl: a published version of CloudFront's ranges. */
export interface HistoryVersion {
  syncToken: string;
  createDate: string;
  CLOUDFRONT: { ipv4: string[]; ipv6: string[] };
  CLOUDFRONT_ORIGIN_FACING: { ipv4: string[]; ipv6: string[] };
}

export const HISTORY_PATH = new URL('../fixtures/cloudfront-history.jsonl', import.meta.url);

/** The 57 real versions, oldest first (see test/fixtures/README.md). */
export function loadCloudFrontHistory(): HistoryVersion[] {
  return readFileSync(HISTORY_PATH, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HistoryVersion);
}
