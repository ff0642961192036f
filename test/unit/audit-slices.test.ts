import { describe, expect, it } from 'vitest';
import { auditSlices } from '../../lambdas/accounts.ts';
import { parseConfig } from '../../lambdas/config.ts';

// Two accounts of two regions each, items in the hub, in each account-region and a CLOUDFRONT web ACL.
const config = parseConfig({
  region: 'eu-west-1',
  stackName: 'OriginGuard',
  accounts: {
    a: { accountId: '210000000001', regions: ['eu-west-1', 'us-west-2'], externalId: 'og-test' },
    b: { accountId: '210000000002', regions: ['eu-west-1', 'us-west-2'], externalId: 'og-test' },
  },
  ipRanges: {
    targets: [
      { name: 'hub', securityGroupIds: ['sg-0000000000000000a'], ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] },
      { name: 'a-west', account: 'a', region: 'us-west-2', securityGroupIds: ['sg-0000000000000000b'], ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] },
      { name: 'b-eu', account: 'b', securityGroupIds: ['sg-0000000000000000c'], ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] },
    ],
  },
  audit: {
    webAcls: [
      { scope: 'REGIONAL', name: 'acl-a', id: '11111111-1111-1111-1111-111111111111', account: 'a', region: 'us-west-2' },
      { scope: 'CLOUDFRONT', name: 'acl-edge', id: '22222222-2222-2222-2222-222222222222', account: 'b' },
    ],
  },
});

describe('auditSlices for one account-region (one invocation of the fan-out)', () => {
  it('cuts exactly the slice the whole cut has for that account-region, and only it', () => {
    const all = auditSlices(config);
    expect(all.length).toBeGreaterThan(3);
    for (const slice of all) {
      const only = auditSlices(config, { account: slice.account ?? '', region: slice.region });
      expect(only).toEqual([slice]);
    }
  });

  it('cuts nothing for an account-region the config does not name', () => {
    expect(auditSlices(config, { account: 'a', region: 'ap-southeast-2' })).toEqual([]);
  });
});
