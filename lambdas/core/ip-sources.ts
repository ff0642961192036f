/**
 * Pure parsers for every IP range feed. Each one checks shape, CIDR syntax and non-emptiness and throws a
 * SourceError naming the source: a feed that looks wrong must change nothing (fail closed), because an
 * empty or truncated list would otherwise remove every rule that admits the CDN.
 */
import { createHash } from 'node:crypto';
import '../zod-english.ts';
import * as z from 'zod/mini';
import type { IpSourceConfig } from '../config.ts';
import { SourceError } from './errors.ts';
import { CidrSyntaxError, cidrFamily, parseCidr, type IpFamily } from './cidr.ts';

/** What one source contributes to a target's desired set. */
export interface SourceRanges {
  /** Names the source in errors and alerts, e.g. `aws(https://ip-ranges.amazonaws.com/ip-ranges.json)`. */
  source: string;
  /** Short label written into rule descriptions (`origin-guard:<target>:<label>`). */
  label: string;
  /** Canonical, de-duplicated CIDRs (IPv4 and IPv6). */
  cidrs: string[];
  /** AWS ip-ranges.json only: the version, seconds since the epoch; only ever grows. */
  syncToken?: string;
  createDate?: string;
}

/** `aws(url)`, `cloudflare`, `konnect(us)`, ...: how errors and alerts name a source. */
export function sourceName(source: IpSourceConfig): string {
  switch (source.type) {
    case 'aws':
      return `aws(${source.url})`;
    case 'cloudflare':
      return 'cloudflare';
    case 'fastly':
      return `fastly(${source.url})`;
    case 'azure-frontdoor':
      return `azure-frontdoor(${source.serviceTag})`;
    case 'konnect':
      return `konnect(${source.region}${source.networkId ? `/${source.networkId}` : ''}${source.controlPlaneId ? `/${source.controlPlaneId}` : ''})`;
    case 'static':
      return 'static';
  }
}

/** The label in rule descriptions: the source type (EC2 descriptions allow `a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`). */
export function sourceLabel(source: IpSourceConfig): string {
  return source.type;
}

/**
 * The broadest range a source may publish: /8 for IPv4, /16 for IPv6. No CDN or gateway publishes wider
 * ranges (the widest real ones are around /11 and /29): a wider one is a broken or poisoned feed.
 */
export const BROADEST_PREFIX: Readonly<Record<IpFamily, number>> = { ipv4: 8, ipv6: 16 };

/** Parses every entry, naming the first bad one; de-duplicates; refuses an empty result. */
function collectCidrs(
  source: string,
  entries: Iterable<string>,
  options: { family?: IpFamily; allowBareAddress?: boolean; what?: string } = {},
): string[] {
  const seen = new Set<string>();
  let index = 0;
  for (const entry of entries) {
    let text: string;
    try {
      text = parseCidr(entry, { allowBareAddress: options.allowBareAddress }).text;
    } catch (error) {
      const reason = error instanceof CidrSyntaxError ? error.message : String(error);
      throw new SourceError(source, `entry ${index} ${options.what ? `of ${options.what} ` : ''}is not valid: ${reason}; nothing was changed`, { cause: error });
    }
    if (options.family && cidrFamily(text) !== options.family) {
      throw new SourceError(source, `entry ${index} ("${entry}") is not ${options.family === 'ipv4' ? 'an IPv4' : 'an IPv6'} CIDR; nothing was changed`);
    }
    if (text.endsWith('/0')) {
      // A feed that admits the whole internet is broken or hostile, never a CDN's range.
      throw new SourceError(source, `entry ${index} ("${entry}") admits every address; refusing it, nothing was changed`);
    }
    const family = cidrFamily(text);
    if (Number(text.slice(text.lastIndexOf('/') + 1)) < BROADEST_PREFIX[family]) {
      throw new SourceError(
        source,
        `entry ${index} ("${text}") is broader than /${BROADEST_PREFIX[family]}, wider than any CDN or gateway range: a broken or poisoned feed; refusing it, nothing was changed`,
      );
    }
    seen.add(text);
    index += 1;
  }
  if (seen.size === 0) {
    throw new SourceError(source, `${options.what ?? 'the list'} is empty; refusing to remove every range, nothing was changed`);
  }
  return [...seen];
}

/**
 * A source must give the target at least one CIDR in the target's IP versions. The empty-list check of each
 * parser runs before the target's family filter, so an AWS selection left with IPv6 prefixes only would
 * otherwise make an IPv4 target's desired set empty for this source, and remove all of its rules.
 */
export function requireFamilies(ranges: Pick<SourceRanges, 'source' | 'cidrs'>, families: readonly IpFamily[]): void {
  if (ranges.cidrs.some((c) => families.includes(cidrFamily(c)))) return;
  const names = families.map((f) => (f === 'ipv4' ? 'IPv4' : 'IPv6')).join(' or ');
  throw new SourceError(
    ranges.source,
    `no ${names} CIDR among the ${ranges.cidrs.length} it lists, and the target admits ${names} only: refusing to remove every range of this source, nothing was changed`,
  );
}

function parseJson(source: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SourceError(source, `not valid JSON (truncated or not the expected file?): ${(error as Error).message}; nothing was changed`, { cause: error });
  }
}

function checkShape<T>(source: string, schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.length ? issue.path.join('.') : '(root)';
  throw new SourceError(source, `does not look like ${what}: ${path}: ${issue.message}; nothing was changed`, { cause: result.error });
}

// ---------- AWS ip-ranges.json ----------

const syncTokenText = z.string().check(z.regex(/^\d{1,20}$/, 'must be a decimal number'));

const AwsIpRangesFile = z.looseObject({
  syncToken: syncTokenText,
  createDate: z.string().check(z.minLength(1)),
  prefixes: z.array(z.looseObject({ ip_prefix: z.string(), region: z.string(), service: z.string() })),
  ipv6_prefixes: z.array(z.looseObject({ ipv6_prefix: z.string(), region: z.string(), service: z.string() })),
});

export interface AwsRangesFilter {
  services: readonly string[];
  regions?: readonly string[];
}

/** AWS `ip-ranges.json`: the prefixes (IPv4 and IPv6) of the given services, optionally only some regions. */
export function parseAwsIpRanges(text: string, filter: AwsRangesFilter, source = 'aws'): Omit<SourceRanges, 'label'> & { syncToken: string; createDate: string } {
  const file = checkShape(source, AwsIpRangesFile, parseJson(source, text), 'AWS ip-ranges.json');
  const services = new Set(filter.services);
  const regions = filter.regions ? new Set(filter.regions) : undefined;
  const wanted = (entry: { service: string; region: string }) => services.has(entry.service) && (!regions || regions.has(entry.region));
  const selected: string[] = [];
  for (const p of file.prefixes) if (wanted(p)) selected.push(p.ip_prefix);
  for (const p of file.ipv6_prefixes) if (wanted(p)) selected.push(p.ipv6_prefix);
  const what = `the prefixes of ${[...services].join(', ')}${regions ? ` in ${[...regions].join(', ')}` : ''}`;
  return { source, cidrs: collectCidrs(source, selected, { what }), syncToken: file.syncToken, createDate: file.createDate };
}

/** Orders two syncTokens (decimal strings of any length). */
export function compareSyncTokens(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** How far a syncToken may be ahead of the clock (skew, a file published while we read it): 1 day. */
export const MAX_SYNC_TOKEN_AHEAD_SECONDS = 86_400;

/** Whether a syncToken (seconds since the epoch) is more than MAX_SYNC_TOKEN_AHEAD_SECONDS ahead of `now`. */
export function isSyncTokenAhead(syncToken: string, now: Date): boolean {
  return compareSyncTokens(syncToken, String(Math.floor(now.getTime() / 1000) + MAX_SYNC_TOKEN_AHEAD_SECONDS)) > 0;
}

/**
 * Refuses a version from the future: once applied, every real version would be "older" and the target would
 * never change again (until its syncToken tag is deleted).
 */
export function checkSyncTokenNotAhead(syncToken: string, now: Date, source: string): void {
  if (isSyncTokenAhead(syncToken, now)) {
    throw new SourceError(source, `version ${syncToken} is more than 1 day ahead of the clock (${now.toISOString()}): a broken or forged file; nothing was changed`);
  }
}

// ---------- SNS AmazonIpSpaceChanged ----------

export interface IpSpaceChangedNotice {
  createTime: string;
  syncToken: string;
  md5: string;
  url: string;
}

const IpSpaceChangedMessage = z.looseObject({
  'create-time': z.string().check(z.minLength(1)),
  synctoken: syncTokenText,
  md5: z.string().check(z.regex(/^[0-9a-fA-F]{32}$/, 'must be an md5 hex digest')),
  url: z.url({ protocol: /^https$/ }),
});

/** The `Message` of an `AmazonIpSpaceChanged` SNS notification: `{"create-time","synctoken","md5","url"}`. */
export function parseIpSpaceChangedMessage(message: string, source = 'AmazonIpSpaceChanged'): IpSpaceChangedNotice {
  const value = checkShape(source, IpSpaceChangedMessage, parseJson(source, message), 'an AmazonIpSpaceChanged message');
  return { createTime: value['create-time'], syncToken: value.synctoken, md5: value.md5.toLowerCase(), url: value.url };
}

export function md5Hex(body: string | Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
}

/**
 * Checks a fetched ip-ranges.json against the notification that announced it. The md5 only describes the
 * announced version: a body of that version with another digest is corrupt or tampered; an older version is
 * a stale copy (a cache); a newer one was published since, and its own notification will follow.
 */
export function verifyAgainstNotice(body: string, fetchedSyncToken: string, notice: IpSpaceChangedNotice, source: string): void {
  const order = compareSyncTokens(fetchedSyncToken, notice.syncToken);
  if (order < 0) {
    throw new SourceError(source, `fetched version ${fetchedSyncToken} is older than the notified ${notice.syncToken} (a stale copy); nothing was changed`);
  }
  if (order === 0) {
    const actual = md5Hex(body);
    if (actual !== notice.md5) {
      throw new SourceError(source, `md5 of the fetched file (${actual}) does not match the notification (${notice.md5}); nothing was changed`);
    }
  }
}

// ---------- Cloudflare, one CIDR a line ----------

/** Cloudflare's `ips-v4` / `ips-v6`: one CIDR a line; blank lines are ignored, anything else must parse. */
export function parseCidrLines(text: string, family: IpFamily, source = 'cloudflare'): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  return collectCidrs(source, lines, { family, what: `the ${family} list` });
}

export function parseCloudflareLists(textV4: string, textV6: string, source = 'cloudflare'): string[] {
  return [...parseCidrLines(textV4, 'ipv4', source), ...parseCidrLines(textV6, 'ipv6', source)];
}

// ---------- Fastly public-ip-list ----------

const FastlyList = z.looseObject({ addresses: z.array(z.string()), ipv6_addresses: z.array(z.string()) });

export function parseFastlyList(text: string, source = 'fastly'): string[] {
  const list = checkShape(source, FastlyList, parseJson(source, text), "Fastly's public-ip-list");
  return [
    ...collectCidrs(source, list.addresses, { family: 'ipv4', what: 'addresses' }),
    ...collectCidrs(source, list.ipv6_addresses, { family: 'ipv6', what: 'ipv6_addresses' }),
  ];
}

// ---------- Azure service tags ----------

const AzureServiceTags = z.looseObject({
  values: z.array(z.looseObject({ name: z.string(), properties: z.looseObject({ addressPrefixes: z.array(z.string()) }) })),
});

/** Azure's service tags file: `values[]` where `name === serviceTag` → `properties.addressPrefixes`. */
export function parseAzureServiceTags(text: string, serviceTag: string, source = `azure-frontdoor(${serviceTag})`): string[] {
  const file = checkShape(source, AzureServiceTags, parseJson(source, text), 'an Azure service tags file');
  const entry = file.values.find((v) => v.name === serviceTag);
  if (!entry) throw new SourceError(source, `service tag "${serviceTag}" is not in the file; nothing was changed`);
  return collectCidrs(source, entry.properties.addressPrefixes, { what: `${serviceTag}.addressPrefixes` });
}

// ---------- Kong Konnect dedicated cloud gateways ----------

/** What the reconciler needs of a Konnect cloud-gateway configuration (KonnectClient's result has this shape). */
export interface KonnectEgressView {
  controlPlaneId: string;
  dataplaneGroups: ReadonlyArray<{ cloudGatewayNetworkId?: string; state: string; egressIpAddresses: readonly string[] }>;
}

export interface KonnectFilter {
  networkId?: string;
  controlPlaneId?: string;
}

/**
 * The egress IPs of the data-plane groups on the given network and/or control plane
 * (`GET /v2/cloud-gateways/configurations` → `dataplane_groups[].egress_ip_addresses`). Bare IPs become /32
 * or /128. Terminated groups are left out: their addresses go back to the cloud provider's pool.
 */
export function parseKonnectEgress(configurations: readonly KonnectEgressView[], filter: KonnectFilter, source = 'konnect'): string[] {
  if (!Array.isArray(configurations)) throw new SourceError(source, 'the configurations list is not an array; nothing was changed');
  const ips: string[] = [];
  for (const configuration of configurations) {
    if (filter.controlPlaneId && configuration.controlPlaneId !== filter.controlPlaneId) continue;
    for (const group of configuration.dataplaneGroups ?? []) {
      if (filter.networkId && group.cloudGatewayNetworkId !== filter.networkId) continue;
      if (group.state === 'terminated') continue;
      ips.push(...(group.egressIpAddresses ?? []));
    }
  }
  const scope = [filter.networkId && `network ${filter.networkId}`, filter.controlPlaneId && `control plane ${filter.controlPlaneId}`].filter(Boolean).join(', ');
  return collectCidrs(source, ips, { allowBareAddress: true, what: `the egress IPs${scope ? ` of ${scope}` : ''}` });
}

// ---------- static ----------

export function parseStaticCidrs(cidrs: readonly string[], source = 'static'): string[] {
  return collectCidrs(source, cidrs, { allowBareAddress: true, what: 'cidrs' });
}
