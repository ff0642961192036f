import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalCidr, parseCidr } from '../../lambdas/core/cidr.ts';
import { SourceError } from '../../lambdas/core/errors.ts';
import {
  checkSyncTokenNotAhead,
  compareSyncTokens,
  md5Hex,
  parseAwsIpRanges,
  parseAzureServiceTags,
  parseCidrLines,
  parseCloudflareLists,
  parseFastlyList,
  parseIpSpaceChangedMessage,
  parseKonnectEgress,
  parseStaticCidrs,
  verifyAgainstNotice,
  type KonnectEgressView,
} from '../../lambdas/core/ip-sources.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const awsText = fixture('aws-ip-ranges.json');
const originFacing = { services: ['CLOUDFRONT_ORIGIN_FACING'] };

/** Runs `fn`, expecting a SourceError that names `source`; returns its message. */
function sourceFailure(fn: () => unknown, source: string): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).source).toBe(source);
    return (error as Error).message;
  }
  throw new Error('expected a SourceError');
}

describe('cidr', () => {
  it('gives one canonical text per network', () => {
    expect(parseCidr('2A04:4E40:0000::/32')).toEqual({ text: '2a04:4e40::/32', family: 'ipv6', prefixLength: 32 });
    expect(parseCidr(' 13.32.0.0/15 ').text).toBe('13.32.0.0/15');
    expect(parseCidr('203.0.113.10', { allowBareAddress: true }).text).toBe('203.0.113.10/32');
    expect(parseCidr('2001:db8::1', { allowBareAddress: true }).text).toBe('2001:db8::1/128');
  });

  it('refuses host bits, leading zeros, bad lengths, zones and bare addresses where a CIDR is required', () => {
    for (const bad of ['10.0.0.5/24', '010.0.0.0/8', '1.2.3.4/33', '1.2.3/24', '2001:db8::1/64', 'fe80::/64%eth0', '2001:db8::/129', '1.2.3.4', 'not-a-cidr', '']) {
      expect(canonicalCidr(bad), bad).toBeUndefined();
    }
    expect(() => parseCidr('10.0.0.5/24')).toThrow(/host bits set \(the network is 10\.0\.0\.0\/24\)/);
  });
});

describe('AWS ip-ranges.json', () => {
  it('selects the prefixes of a service, IPv4 and IPv6, with the version', () => {
    const ranges = parseAwsIpRanges(awsText, originFacing, 'aws(test)');
    expect(ranges.syncToken).toBe('1749744199');
    expect(ranges.createDate).toBe('2025-06-12-16-03-19');
    expect(ranges.cidrs.filter((c) => !c.includes(':'))).toHaveLength(46);
    expect(ranges.cidrs.filter((c) => c.includes(':'))).toHaveLength(1);
  });

  it('filters by region', () => {
    const all = parseAwsIpRanges(awsText, { services: ['EC2'] });
    const one = parseAwsIpRanges(awsText, { services: ['EC2'], regions: ['eu-west-1'] });
    expect(one.cidrs.length).toBeGreaterThan(0);
    expect(one.cidrs.length).toBeLessThan(all.cidrs.length);
  });

  it('refuses truncated JSON', () => {
    expect(sourceFailure(() => parseAwsIpRanges(awsText.slice(0, awsText.length / 2), originFacing, 'aws(test)'), 'aws(test)')).toMatch(/not valid JSON/);
  });

  it('refuses an empty selection (an emptied file, or a service that is not there)', () => {
    const emptied = JSON.stringify({ syncToken: '1749744200', createDate: '2025-06-12-17-00-00', prefixes: [], ipv6_prefixes: [] });
    expect(sourceFailure(() => parseAwsIpRanges(emptied, originFacing, 'aws(test)'), 'aws(test)')).toMatch(/empty/);
    expect(() => parseAwsIpRanges(awsText, { services: ['CLOUDFRONT_ORIGIN_FACING'], regions: ['eu-west-1'] })).toThrow(/empty/);
  });

  it('refuses a bad CIDR among the selected prefixes, naming it', () => {
    const file = JSON.parse(awsText);
    file.prefixes.find((p: { service: string }) => p.service === 'CLOUDFRONT_ORIGIN_FACING').ip_prefix = '130.176.300.0/21';
    expect(sourceFailure(() => parseAwsIpRanges(JSON.stringify(file), originFacing, 'aws(test)'), 'aws(test)')).toMatch(/130\.176\.300\.0\/21/);
  });

  it('refuses a file of another shape, and a prefix that admits everyone', () => {
    expect(() => parseAwsIpRanges(JSON.stringify({ prefixes: [] }), originFacing)).toThrow(/does not look like AWS ip-ranges.json: syncToken/);
    const open = JSON.stringify({ syncToken: '1', createDate: 'x', prefixes: [{ ip_prefix: '0.0.0.0/0', region: 'GLOBAL', service: 'CLOUDFRONT_ORIGIN_FACING' }], ipv6_prefixes: [] });
    expect(() => parseAwsIpRanges(open, originFacing)).toThrow(/admits every address/);
  });
});

describe('ranges broader than any CDN publishes', () => {
  it('refuses an IPv4 CIDR broader than /8 and an IPv6 CIDR broader than /16, naming the source and the CIDR', () => {
    const file = JSON.parse(awsText);
    file.prefixes.find((p: { service: string }) => p.service === 'CLOUDFRONT_ORIGIN_FACING').ip_prefix = '128.0.0.0/7';
    expect(sourceFailure(() => parseAwsIpRanges(JSON.stringify(file), originFacing, 'aws(test)'), 'aws(test)')).toMatch(/"128\.0\.0\.0\/7"\) is broader than \/8/);
    expect(sourceFailure(() => parseCidrLines('2400::/15\n', 'ipv6'), 'cloudflare')).toMatch(/"2400::\/15"\) is broader than \/16/);
    expect(sourceFailure(() => parseStaticCidrs(['198.51.100.10', '64.0.0.0/2']), 'static')).toMatch(/64\.0\.0\.0\/2/);
  });

  it('accepts /8 and /16 and everything narrower', () => {
    expect(parseCidrLines('10.0.0.0/8\n', 'ipv4')).toEqual(['10.0.0.0/8']);
    expect(parseCidrLines('2400::/16\n', 'ipv6')).toEqual(['2400::/16']);
  });
});

describe('AmazonIpSpaceChanged', () => {
  const notice = (over: Record<string, string> = {}) =>
    parseIpSpaceChangedMessage(
      JSON.stringify({ 'create-time': '2025-06-12-16-03-19', synctoken: '1749744199', md5: md5Hex(awsText), url: 'https://ip-ranges.amazonaws.com/ip-ranges.json', ...over }),
    );

  it('reads the notification', () => {
    expect(notice()).toEqual({ createTime: '2025-06-12-16-03-19', syncToken: '1749744199', md5: md5Hex(awsText), url: 'https://ip-ranges.amazonaws.com/ip-ranges.json' });
  });

  it('accepts the announced file and a newer one, refuses a wrong md5 and an older (stale) copy', () => {
    expect(() => verifyAgainstNotice(awsText, '1749744199', notice(), 'aws(test)')).not.toThrow();
    expect(() => verifyAgainstNotice(awsText, '1749744300', notice({ md5: '0'.repeat(32) }), 'aws(test)')).not.toThrow();
    expect(sourceFailure(() => verifyAgainstNotice(`${awsText} `, '1749744199', notice(), 'aws(test)'), 'aws(test)')).toMatch(/md5/);
    expect(sourceFailure(() => verifyAgainstNotice(awsText, '1749599010', notice(), 'aws(test)'), 'aws(test)')).toMatch(/older than the notified/);
  });

  it('refuses a malformed notification', () => {
    expect(() => notice({ md5: 'xyz' })).toThrow(SourceError);
    expect(() => notice({ synctoken: 'soon' })).toThrow(/synctoken/);
    expect(() => parseIpSpaceChangedMessage('{"create-time":')).toThrow(/not valid JSON/);
  });

  it('refuses a version more than 1 day ahead of the clock, which would freeze the target', () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const seconds = Math.floor(now.getTime() / 1000);
    expect(() => checkSyncTokenNotAhead(String(seconds + 3_600), now, 'aws(test)')).not.toThrow();
    expect(() => checkSyncTokenNotAhead('1749744199', now, 'aws(test)')).not.toThrow();
    expect(sourceFailure(() => checkSyncTokenNotAhead(String(seconds + 2 * 86_400), now, 'aws(test)'), 'aws(test)')).toMatch(/more than 1 day ahead of the clock/);
    expect(() => checkSyncTokenNotAhead('99999999999999999999', now, 'aws(test)')).toThrow(SourceError);
  });

  it('orders syncTokens as numbers', () => {
    expect(compareSyncTokens('999', '1000')).toBe(-1);
    expect(compareSyncTokens('1749744199', '1749744199')).toBe(0);
    expect(compareSyncTokens('01749744200', '1749744199')).toBe(1);
  });
});

describe('Cloudflare, Fastly, Azure, static', () => {
  it('reads the published Cloudflare lists', () => {
    const cidrs = parseCloudflareLists(fixture('cloudflare-ips-v4.txt'), fixture('cloudflare-ips-v6.txt'));
    expect(cidrs.filter((c) => !c.includes(':'))).toHaveLength(15);
    expect(cidrs.filter((c) => c.includes(':'))).toHaveLength(7);
  });

  it('refuses an empty list, an HTML error page and the wrong family', () => {
    expect(sourceFailure(() => parseCidrLines('\n\n', 'ipv4'), 'cloudflare')).toMatch(/empty/);
    expect(() => parseCidrLines('<html><body>502 Bad Gateway</body></html>', 'ipv4')).toThrow(/not valid/);
    expect(() => parseCidrLines(fixture('cloudflare-ips-v6.txt'), 'ipv4')).toThrow(/not an IPv4 CIDR/);
  });

  it('reads Fastly and refuses a list without IPv6 addresses', () => {
    const fastly = fixture('fastly-public-ip-list.json');
    expect(parseFastlyList(fastly).length).toBe(JSON.parse(fastly).addresses.length + JSON.parse(fastly).ipv6_addresses.length);
    expect(sourceFailure(() => parseFastlyList('{"addresses":["151.101.0.0/16"]}'), 'fastly')).toMatch(/ipv6_addresses/);
  });

  it('reads AzureFrontDoor.Backend from the service tags file', () => {
    const text = fixture('azure-service-tags-frontdoor.json');
    expect(parseAzureServiceTags(text, 'AzureFrontDoor.Backend')).toHaveLength(170);
    expect(sourceFailure(() => parseAzureServiceTags(text, 'AzureFrontDoor.Nope', 'azure'), 'azure')).toMatch(/not in the file/);
  });

  it('turns bare static addresses into /32 and /128', () => {
    expect(parseStaticCidrs(['203.0.113.10', '2001:db8::10', '198.51.100.0/24'])).toEqual(['203.0.113.10/32', '2001:db8::10/128', '198.51.100.0/24']);
  });
});

describe('Konnect egress IPs', () => {
  const configurations: KonnectEgressView[] = [
    {
      controlPlaneId: 'cp-1',
      dataplaneGroups: [
        { cloudGatewayNetworkId: 'net-a', state: 'ready', egressIpAddresses: ['71.78.149.75', '91.149.112.244'] },
        { cloudGatewayNetworkId: 'net-b', state: 'ready', egressIpAddresses: ['51.235.15.121', '2600:1f18::1'] },
        { cloudGatewayNetworkId: 'net-a', state: 'terminated', egressIpAddresses: ['198.51.100.7'] },
      ],
    },
    { controlPlaneId: 'cp-2', dataplaneGroups: [{ cloudGatewayNetworkId: 'net-a', state: 'ready', egressIpAddresses: ['203.0.113.5'] }] },
  ];

  it('keeps the egress IPs of the network and control plane, leaving terminated groups out', () => {
    expect(parseKonnectEgress(configurations, { networkId: 'net-a' })).toEqual(['71.78.149.75/32', '91.149.112.244/32', '203.0.113.5/32']);
    expect(parseKonnectEgress(configurations, { controlPlaneId: 'cp-1', networkId: 'net-b' })).toEqual(['51.235.15.121/32', '2600:1f18::1/128']);
  });

  it('refuses an empty result and a bad address', () => {
    expect(sourceFailure(() => parseKonnectEgress(configurations, { networkId: 'net-z' }, 'konnect(us)'), 'konnect(us)')).toMatch(/egress IPs of network net-z.*empty/);
    expect(() => parseKonnectEgress([{ controlPlaneId: 'x', dataplaneGroups: [{ state: 'ready', egressIpAddresses: ['71.78.149'] }] }], {})).toThrow(/not valid/);
  });
});
