/**
 * Issue 17: the bypass the audit reports is the bypass traffic takes. A forger runs its own "distribution": an
 * edge that comes from a CloudFront address (the security groups let it in) but sends no origin-verify header.
 * Where `origin.any-distribution` passes, the gateway refuses it; where the audit reports the bypass, the
 * gateway serves it. Uses the harness's public API only (World, Gateway.sourceCheck, SecurityGroupView, get).
 */
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeManagedPrefixListsCommand, GetManagedPrefixListEntriesCommand } from '@aws-sdk/client-ec2';
import { GetWebACLCommand, UpdateWebACLCommand } from '@aws-sdk/client-wafv2';
import { describe, expect, it } from 'vitest';
import { AwsAuditCollector, CLOUDFRONT_PREFIX_LIST_NAME } from '../../lambdas/adapters/audit-collector.ts';
import { updateRequestKeepingSettings, WafV2Validator } from '../../lambdas/adapters/wafv2.ts';
import { parseConfig } from '../../lambdas/config.ts';
import { originAnyDistribution, runChecks } from '../../lambdas/core/checks/index.ts';
import { get, keepAliveAgent, SOURCE_HEADER } from './harness/http.ts';
import { SecurityGroupView } from './harness/ranges.ts';
import { CDN, World } from './harness/world.ts';

const TIMEOUT = 120_000;

describe('forged requests through "any distribution"', () => {
  it('are refused where the audit says the origin is safe, and accepted exactly where it reports the bypass', async () => {
    const world = await World.start({ wafNodes: 1, kongNodes: 1, upstreams: 1, edges: 1 });
    const agent = keepAliveAgent();
    try {
      const ec2 = world.clients.ec2();
      // The origin's group admits CloudFront's origin-facing ranges (as reconcile would write them).
      const lists = await ec2.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: [CLOUDFRONT_PREFIX_LIST_NAME] }] }));
      const listId = lists.PrefixLists!.find((l) => l.PrefixListName === CLOUDFRONT_PREFIX_LIST_NAME)!.PrefixListId!;
      const entries = (await ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: listId }))).Entries ?? [];
      const cloudFrontV4 = entries.map((e) => e.Cidr!).filter((c) => c.includes('.')).slice(0, 3);
      expect(cloudFrontV4.length).toBeGreaterThan(0);
      const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc!.VpcId!;
      const groupId = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: `bypass-${Date.now()}`, Description: 'gateway load balancer', VpcId: vpcId }))).GroupId!;
      await ec2.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: cloudFrontV4.map((CidrIp) => ({ CidrIp })) }] }),
      );
      const groups = new SecurityGroupView(ec2, [groupId], 'bypass');
      await groups.refresh();
      world.gateway.sourceCheck = (address) => groups.allows(address);
      // The attacker's edge: a CloudFront address, no header.
      const attackerEdge = cloudFrontV4[0].replace(/\.\d+\/\d+$/, '.7');
      expect(groups.allows(attackerEdge)).toBe(true);
      const forged = () => get(agent, `${world.gateway.url}/api/forged`, { [SOURCE_HEADER]: attackerEdge });

      // The WAF guards this origin alone: Kong's route matches any header value here.
      for (const route of world.kong.routes.values()) if (route.name === 'api') route.headers = null;
      const seeded = world.seeded.config as Record<string, any>;
      const auditConfig = parseConfig({
        ...seeded,
        secrets: seeded.secrets.map((s: any) => (s.name === CDN ? { ...s, validators: s.validators.filter((v: any) => v.type === 'wafv2') } : s)),
        audit: { origins: [{ name: 'gateway', securityGroupIds: [groupId], ports: [443], secret: CDN }] },
      });
      const audit = async () => {
        const observed = await new AwsAuditCollector(auditConfig, { clients: world.clients }).observe();
        return runChecks(observed, new Date(), [originAnyDistribution]);
      };
      const waf = world.secrets[CDN].validators.find((v) => v.type === 'wafv2')!;
      if (waf.type !== 'wafv2') throw new Error('the seeded secret has no WAF validator');
      const ref = { scope: waf.scope, name: waf.webAclName, id: waf.webAclId };
      // Wait (bounded) until every gateway node serves the view in question, instead of sleeping a guess.
      const settle = async (what: string, ready: (views: ReturnType<typeof world.gateway.views>) => boolean) => {
        if (!(await world.until(() => ready(world.gateway.views()), 15_000))) throw new Error(`the gateway nodes never saw ${what}`);
      };

      // Safe: the WAF checks the header.
      await settle('the route without header match', (v) => v.routes.every((r) => r === undefined));
      const safe = await audit();
      const refused = await forged();

      // Someone deletes the origin-verify rule.
      const wafClient = world.clients.wafv2('REGIONAL');
      const current = await wafClient.send(new GetWebACLCommand({ Name: ref.name, Scope: ref.scope, Id: ref.id }));
      await wafClient.send(new UpdateWebACLCommand(updateRequestKeepingSettings(ref, current.WebACL!, current.LockToken!, (current.WebACL!.Rules ?? []).filter((r) => r.Name !== waf.ruleName))));
      await settle('the rule removed', (v) => v.waf.every((w) => w?.kind === 'no-rule'));
      const bypass = await audit();
      const accepted = await forged();

      // Repaired: the validator writes its rule back.
      await new WafV2Validator(wafClient, { ...waf, headerName: world.secrets[CDN].headerName }).accept([(await world.value(CDN))!]);
      await settle('the rule back', (v) => v.waf.every((w) => w?.kind === 'values'));
      const repaired = await audit();
      const refusedAgain = await forged();

      expect(safe.map((f) => f.status)).toEqual(['PASS']);
      expect(refused.status).toBe(403);
      expect(bypass.map((f) => [f.id, f.status])).toEqual([['origin.any-distribution:origin:gateway', 'FAIL']]);
      expect(accepted.status).toBe(200);
      expect(repaired.map((f) => f.status)).toEqual(['PASS']);
      expect(refusedAgain.status).toBe(403);
    } finally {
      agent.destroy();
      await world.close();
    }
  }, TIMEOUT);
});
