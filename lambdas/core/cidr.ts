/**
 * CIDR parsing for the range planner: one canonical text per network, so that a rule read back from EC2
 * and a range read from a feed compare equal as plain strings (the planner only compares strings).
 */
import ipaddr from 'ipaddr.js';

export type IpFamily = 'ipv4' | 'ipv6';

export interface Cidr {
  /** Canonical text: IPv4 dotted decimal, IPv6 RFC 5952 (lower case, `::` compression), `/length`. */
  readonly text: string;
  readonly family: IpFamily;
  readonly prefixLength: number;
}

/** Why a text is not an acceptable CIDR; `parseCidr` throws it, callers wrap it with the source's name. */
export class CidrSyntaxError extends Error {
  override name = 'CidrSyntaxError';
}

// Canonical IPv4 CIDRs (no leading zeros) are by far the most common input: skip ipaddr.js for them.
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(?:3[0-2]|[12]?\d)$/;
const BARE_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function v4NetworkMatches(octets: number[], prefixLength: number): boolean {
  const value = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return ((value & mask) >>> 0) === value;
}

/**
 * Parses `a.b.c.d/n` or an IPv6 `x::/n`. With `allowBareAddress`, a bare address becomes a /32 or /128
 * (Konnect egress IPs, static entries). Rejects host bits set (`10.0.0.5/24`): a feed that publishes one
 * is malformed, and silently widening it would admit addresses nobody listed. Leading-zero IPv4 octets are
 * rejected too, because some parsers read them as octal.
 */
export function parseCidr(input: string, options: { allowBareAddress?: boolean } = {}): Cidr {
  const text = input.trim();
  if (CANONICAL_V4.test(text)) {
    const slash = text.indexOf('/');
    const prefixLength = Number(text.slice(slash + 1));
    const octets = text.slice(0, slash).split('.').map(Number);
    if (!v4NetworkMatches(octets, prefixLength)) {
      throw new CidrSyntaxError(`"${input}" has host bits set (the network is ${ipaddr.IPv4.networkAddressFromCIDR(text).toString()}/${prefixLength})`);
    }
    return { text, family: 'ipv4', prefixLength };
  }
  if (options.allowBareAddress && !text.includes('/')) {
    if (BARE_V4.test(text)) return { text: `${text}/32`, family: 'ipv4', prefixLength: 32 };
    if (ipaddr.IPv6.isValid(text) && !text.includes('%')) {
      return { text: `${ipaddr.IPv6.parse(text).toRFC5952String()}/128`, family: 'ipv6', prefixLength: 128 };
    }
    throw new CidrSyntaxError(`"${input}" is not an IPv4 or IPv6 address or CIDR`);
  }
  if (text.includes(':') && !text.includes('%') && ipaddr.IPv6.isValidCIDR(text)) {
    const [address, prefixLength] = ipaddr.IPv6.parseCIDR(text);
    const network = ipaddr.IPv6.networkAddressFromCIDR(text);
    const canonical = network.toRFC5952String();
    if (canonical !== address.toRFC5952String()) {
      throw new CidrSyntaxError(`"${input}" has host bits set (the network is ${canonical}/${prefixLength})`);
    }
    return { text: `${canonical}/${prefixLength}`, family: 'ipv6', prefixLength };
  }
  throw new CidrSyntaxError(`"${input}" is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32`);
}

/** The canonical text of a CIDR, or undefined when it does not parse (rules read back from EC2). */
export function canonicalCidr(input: string): string | undefined {
  try {
    return parseCidr(input).text;
  } catch {
    return undefined;
  }
}

/** Family from canonical text, without parsing again. */
export function cidrFamily(canonical: string): IpFamily {
  return canonical.includes(':') ? 'ipv6' : 'ipv4';
}
