/**
 * The 57 real versions of CloudFront's ranges (test/fixtures/cloudfront-history.jsonl) and the ip-ranges.json
 * text of each, as AWS publishes it (both services, with their regions), for file:// feeds.
 */
import { canonicalCidr } from '../../lambdas/core/cidr.ts';

export type CloudFrontService = 'CLOUDFRONT' | 'CLOUDFRONT_ORIGIN_FACING';

import type { HistoryVersion } from '../../test/support/cloudfront-history.ts';

export { HISTORY_PATH, loadCloudFrontHistory as loadHistory, type HistoryVersion } from '../../test/support/cloudfront-history.ts';

/** The version as an ip-ranges.json body (both CloudFront services, region GLOBAL). */
export function ipRangesJson(v: HistoryVersion): string {
  const services = ['CLOUDFRONT', 'CLOUDFRONT_ORIGIN_FACING'] as const;
  const prefixes = services.flatMap((service) =>
    v[service].ipv4.map((ip_prefix) => ({ ip_prefix, region: 'GLOBAL', service, network_border_group: 'GLOBAL' })),
  );
  const ipv6_prefixes = services.flatMap((service) =>
    v[service].ipv6.map((ipv6_prefix) => ({ ipv6_prefix, region: 'GLOBAL', service, network_border_group: 'GLOBAL' })),
  );
  return JSON.stringify({ syncToken: v.syncToken, createDate: v.createDate, prefixes, ipv6_prefixes }, null, 2);
}

/** A service's ranges in one version as canonical CIDRs (IPv4 and IPv6): one ingress rule each on one port. */
export function canonicalSet(v: HistoryVersion, service: CloudFrontService): Set<string> {
  const set = new Set<string>();
  for (const cidr of [...v[service].ipv4, ...v[service].ipv6]) set.add(canonicalCidr(cidr) ?? cidr);
  return set;
}

/** Elements of `a` not in `b`. */
export function minus(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  let n = 0;
  for (const x of a) if (!b.has(x)) n += 1;
  return n;
}
