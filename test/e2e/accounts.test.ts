/**
 * Issue 13 under traffic: one rotation of the CDN → gateway hop whose CloudFront sender is in account `edge` and
 * whose WAF and Kong validators are in account `workload` (the secret in the hub), reached through spoke roles.
 */
import { GetDistributionConfigCommand } from '@aws-sdk/client-cloudfront';
import { GetWebACLCommand } from '@aws-sdk/client-wafv2';
import { describe, expect, it } from 'vitest';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { emulatorClientConfig } from '../support/aws.ts';
import { expectFinalState, rotateAndRetire } from './harness/rotations.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT } from './harness/suite.ts';
import { CDN, fp, World } from './harness/world.ts';

describe('rotation across accounts under traffic', () => {
  it('rotates with the sender in one account and the validators in another: no legitimate request refused, no forged one accepted', async () => {
    const world = await World.start({ twoAccounts: true });
    try {
      const result = await runScenario(world, { group: 'rotation', scenario: 'rotation across two accounts (CloudFront in edge, WAF + Kong in workload)' }, async ({ note }) => {
        const cdn = await rotateAndRetire(world, CDN);
        expect(fp(cdn.after)).not.toBe(fp(cdn.before));
        note('CloudFront in account edge, WAF in account workload, through their spoke roles');
      });
      expectNoRejections(world, result);
      expect(result.forgedByLabel['gateway/retired-value']?.sent ?? 0).toBeGreaterThan(0);
      await expectFinalState(world);

      // The targets really live in the other accounts: the hub's own clients cannot see them.
      const hub = allAwsClients(emulatorClientConfig());
      await expect(hub.cloudFront().send(new GetDistributionConfigCommand({ Id: world.seeded.distributionId }))).rejects.toThrow();
      const acl = world.seeded.gatewayAcl;
      await expect(hub.wafv2('REGIONAL').send(new GetWebACLCommand({ Scope: 'REGIONAL', Name: acl.name, Id: acl.id }))).rejects.toThrow();
    } finally {
      await world.close();
    }
  }, TIMEOUT);
});
