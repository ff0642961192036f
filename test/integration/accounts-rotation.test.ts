/**
 * Issue 13: a rotation whose CloudFront sender is in account A (edge) and whose WAF (REGIONAL, another region)
 * and Kong validators are in account B (workload), the secret in the hub. Under the traffic invariant: at every
 * step, each validator accepts what the sender sends.
 */
import { randomBytes } from 'node:crypto';
import { CreateDistributionCommand, GetDistributionConfigCommand } from '@aws-sdk/client-cloudfront';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CreateWebACLCommand, GetWebACLCommand, ListWebACLsCommand } from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayDistributionConfig, visibility } from '../../cli/seed.ts';
import { rotationDeps } from '../../lambdas/adapters/rotation-targets.ts';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import type { RotationProgress } from '../../lambdas/core/rotation.ts';
import { retire, rotateInProcess } from '../../lambdas/core/rotation.ts';
import { acceptedValuesOfRule, buildOriginVerifyRule } from '../../lambdas/core/waf-rule.ts';
import { denyAssumeRole, emulatorAccountClients } from '../support/accounts.ts';
import { uniqueName } from '../support/aws.ts';
import { formatStatus, secretStatus } from '../../cli/status.ts';
import { startFakeKong, type FakeKong } from '../support/fake-kong.ts';

const EDGE = '310000000001';
const WORKLOAD = '310000000002';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('a rotation across two accounts on the emulator', () => {
  let kong: FakeKong;
  let config: Config;
  let env: ReturnType<typeof emulatorAccountClients>;
  let assumed: ReturnType<typeof denyAssumeRole>;
  let ids: { distributionId: string; aclName: string; aclId: string; secretName: string; initial: string };

  beforeAll(async () => {
    const suffix = randomBytes(4).toString('hex');
    const initial = randomBytes(24).toString('base64url');
    kong = await startFakeKong();
    kong.addRoute({ name: 'api', paths: ['/api'], headers: { 'X-Origin-Verify': [initial] } });
    const base = {
      region: 'eu-west-1',
      stackName: 'OriginGuard',
      organizationId: 'o-a1b2c3d4e5',
      accounts: { edge: { accountId: EDGE, regions: ['us-east-1'] }, workload: { accountId: WORKLOAD, regions: ['eu-west-1', 'eu-central-1'] } },
    };
    assumed = denyAssumeRole(() => false);
    env = emulatorAccountClients(parseConfig({ ...base }), 'rotate', [assumed.plugin]);

    const distribution = await env.accounts
      .for({ account: 'edge' })
      .cloudFront()
      .send(new CreateDistributionCommand({ DistributionConfig: gatewayDistributionConfig({ reference: suffix, suffix, region: 'eu-central-1', headerValue: initial }) }));
    const aclName = uniqueName('xacct-acl');
    const acl = await env.accounts
      .for({ account: 'workload', region: 'eu-central-1' })
      .wafv2('REGIONAL')
      .send(
        new CreateWebACLCommand({
          Name: aclName,
          Scope: 'REGIONAL',
          DefaultAction: { Allow: {} },
          Rules: [buildOriginVerifyRule({ ruleName: 'origin-verify', priority: 0, headerName: 'X-Origin-Verify', values: [initial] })],
          VisibilityConfig: visibility(aclName),
        }),
      );
    const secretName = uniqueName('og/xacct');
    await env.hub.secretsManager().send(new CreateSecretCommand({ Name: secretName, SecretString: initial }));
    ids = { distributionId: distribution.Distribution!.Id!, aclName, aclId: acl.Summary!.Id!, secretName, initial };
    config = parseConfig({
      ...base,
      secrets: [
        {
          name: 'cdn-to-gateway',
          secretName,
          headerName: 'X-Origin-Verify',
          overlapMinutes: 0,
          senders: [{ type: 'cloudfront', distributionId: ids.distributionId, originIds: ['gateway-alb'], account: 'edge' }],
          validators: [
            { type: 'wafv2', scope: 'REGIONAL', webAclName: aclName, webAclId: ids.aclId, propagationSeconds: 0, account: 'workload', region: 'eu-central-1' },
            { type: 'kong-route', adminUrl: kong.url, routes: ['api'], propagationSeconds: 0, account: 'workload' },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await kong?.close();
  });

  const sends = async () => {
    const d = await env.accounts.for({ account: 'edge' }).cloudFront().send(new GetDistributionConfigCommand({ Id: ids.distributionId }));
    const origin = d.DistributionConfig!.Origins!.Items!.find((o) => o.Id === 'gateway-alb')!;
    return origin.CustomHeaders!.Items!.find((h) => h.HeaderName === 'X-Origin-Verify')!.HeaderValue!;
  };
  const wafAccepts = async () => {
    const acl = await env.accounts
      .for({ account: 'workload', region: 'eu-central-1' })
      .wafv2('REGIONAL')
      .send(new GetWebACLCommand({ Name: ids.aclName, Id: ids.aclId, Scope: 'REGIONAL' }));
    return acceptedValuesOfRule(acl.WebACL!.Rules!.find((r) => r.Name === 'origin-verify')!, 'X-Origin-Verify') ?? [];
  };
  const kongAccepts = () => kong.route('api')!.headers!['X-Origin-Verify'];

  it('rotates with the sender in one account and the validators in another, every validator accepting what is sent at every step', async () => {
    const secret = config.secrets[0];
    const violations: string[] = [];
    const checks: Promise<void>[] = [];
    const checkInvariant = async (at: string) => {
      const sent = await sends();
      const waf = await wafAccepts();
      if (!waf.includes(sent)) violations.push(`${at}: WAF in account B does not accept what CloudFront in account A sends`);
      if (!kongAccepts().includes(sent)) violations.push(`${at}: Kong does not accept what CloudFront sends`);
    };
    const onProgress = (e: RotationProgress) => void checks.push(checkInvariant(`${e.step}/${e.phase}`));
    const deps = rotationDeps(secret, { clients: env.hub, accounts: env.accounts, logger: silent }, { onProgress });

    const result = await rotateInProcess(secret, deps);
    await Promise.all(checks);
    const current = (await env.hub.secretsManager().send(new GetSecretValueCommand({ SecretId: ids.secretName, VersionStage: 'AWSCURRENT' }))).SecretString!;

    expect(result.token).toBeTruthy();
    expect(current).not.toBe(ids.initial);
    expect(await sends()).toBe(current);
    expect((await wafAccepts()).sort()).toEqual([ids.initial, current].sort());
    expect([...kongAccepts()].sort()).toEqual([ids.initial, current].sort());
    expect(checks.length).toBeGreaterThan(4);
    expect(violations).toEqual([]);

    const retired = await retire(secret, deps);
    await Promise.all(checks);
    expect(retired.status).toBe('retired');
    expect(await wafAccepts()).toEqual([current]);
    expect(kongAccepts()).toEqual([current]);
    expect(violations).toEqual([]);
  });

  it('wrote in the accounts the config names and nowhere else', async () => {
    // The web ACL lives in account B's eu-central-1: the hub account's region has no such ACL.
    const hubAcls = await env.hub.wafv2('REGIONAL').send(new ListWebACLsCommand({ Scope: 'REGIONAL' }));
    expect(hubAcls.WebACLs?.some((a) => a.Name === ids.aclName)).toBe(false);
    await expect(env.hub.cloudFront().send(new GetDistributionConfigCommand({ Id: ids.distributionId }))).rejects.toThrow();
    expect(new Set(assumed.seen)).toEqual(
      new Set([`arn:aws:iam::${EDGE}:role/OriginGuard-rotate-us-east-1`, `arn:aws:iam::${WORKLOAD}:role/OriginGuard-rotate-eu-central-1`]),
    );
  });

  it('shows status with each target in its account and region, every one in agreement after the rotation', async () => {
    const status = await secretStatus(config.secrets[0], { clients: env.hub, accounts: env.accounts, fetch });

    expect(status.error).toBeUndefined();
    expect(status.senders.map((x) => [x.account, x.region, x.ok])).toEqual([['edge', undefined, true]]);
    expect(status.validators.map((x) => [x.account, x.region, x.ok])).toEqual([
      ['workload', 'eu-central-1', true],
      ['workload', undefined, true],
    ]);
    expect(formatStatus([status])).toContain('[account workload · eu-central-1]');
  });
});
