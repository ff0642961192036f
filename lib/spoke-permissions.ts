/**
 * What each hub function may do in a spoke account-region, and nothing more: the same actions the hub grants
 * its functions for hub resources (lib/rotation.ts, lib/reconciler.ts, lib/auditor.ts), on the configured
 * resources of that account-region only. Pure: returns plain statements (actions, ARNs); lib/spoke-stack.ts
 * turns them into policies, and the least-privilege tests read them.
 */
import type { HubFunction } from '../lambdas/accounts.ts';
import { homeRegionOf } from '../lambdas/accounts.ts';
import type { Config } from '../lambdas/config.ts';
import { globalRegionOf, partitionOf } from '../lambdas/core/partitions.ts';

export interface SpokeStatement {
  actions: string[];
  resources: string[];
  /** Why `*` is needed, when it is (actions without resource-level permissions). */
  wildcardReason?: string;
}

export interface SpokeScope {
  /** A name from `accounts`; undefined: every account (the StackSet's one template). */
  account?: string;
  /** The region of the spoke stack; undefined: every region (the StackSet). */
  region?: string;
}

const EC2_DESCRIBE_REASON = 'EC2 Describe* actions have no resource-level permissions; read-only.';

interface Placed {
  accountId: string;
  region: string;
  home: boolean;
}

export function spokeStatements(config: Config, fn: HubFunction, scope: SpokeScope): SpokeStatement[] {
  const here = (account: string | undefined, region: string | undefined): Placed | undefined => {
    if (account === undefined) return undefined;
    const a = config.accounts?.[account];
    if (!a) return undefined;
    if (scope.account !== undefined && scope.account !== account) return undefined;
    const home = homeRegionOf(config, account);
    const r = region ?? home;
    if (scope.region !== undefined && scope.region !== r) return undefined;
    return { accountId: a.accountId, region: r, home: r === home };
  };
  const arn = (service: string, region: string, accountId: string, resource: string) => `arn:${partitionOf(region)}:${service}:${region}:${accountId}:${resource}`;
  const distribution = (p: Placed, id: string) => `arn:${partitionOf(p.region)}:cloudfront::${p.accountId}:distribution/${id}`;
  const webAcl = (p: Placed, acl: { scope: 'REGIONAL' | 'CLOUDFRONT'; name: string; id: string }) =>
    acl.scope === 'CLOUDFRONT'
      ? arn('wafv2', globalRegionOf(partitionOf(p.region)), p.accountId, `global/webacl/${acl.name}/${acl.id}`)
      : arn('wafv2', p.region, p.accountId, `regional/webacl/${acl.name}/${acl.id}`);
  const wafReferenced = (p: Placed, wafScope: 'REGIONAL' | 'CLOUDFRONT') => {
    const region = wafScope === 'CLOUDFRONT' ? globalRegionOf(partitionOf(p.region)) : p.region;
    return ['managedruleset', 'rulegroup', 'ipset', 'regexpatternset'].map((t) => arn('wafv2', region, p.accountId, `${wafScope === 'CLOUDFRONT' ? 'global' : 'regional'}/${t}/*/*`));
  };
  const out: SpokeStatement[] = [];
  const add = (actions: string[], resources: string[], wildcardReason?: string) => {
    const distinct = [...new Set(resources)];
    if (distinct.length > 0) out.push({ actions, resources: distinct, ...(wildcardReason ? { wildcardReason } : {}) });
  };

  if (fn === 'rotate') {
    const distributions: string[] = [];
    const acls: string[] = [];
    const referenced: string[] = [];
    for (const secret of config.secrets) {
      for (const s of secret.senders) {
        if (s.type !== 'cloudfront') continue;
        const p = here(s.account, undefined);
        if (p?.home) distributions.push(distribution(p, s.distributionId));
      }
      for (const v of secret.validators) {
        if (v.type !== 'wafv2') continue;
        const p = here(v.account, v.scope === 'CLOUDFRONT' ? undefined : v.region);
        if (!p || (v.scope === 'CLOUDFRONT' && !p.home)) continue;
        acls.push(webAcl(p, { scope: v.scope, name: v.webAclName, id: v.webAclId }));
        referenced.push(...wafReferenced(p, v.scope));
      }
    }
    add(['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig', 'cloudfront:UpdateDistribution'], distributions);
    add(['wafv2:GetWebACL', 'wafv2:UpdateWebACL'], acls);
    add(['wafv2:UpdateWebACL'], referenced, 'UpdateWebACL is authorised on every rule group, IP set and regex pattern set the ACL references; this does not allow changing them.');
  }

  if (fn === 'reconcile') {
    const groups: string[] = [];
    const lists: string[] = [];
    for (const t of config.ipRanges?.targets ?? []) {
      const p = here(t.account, t.region);
      if (!p) continue;
      groups.push(...t.securityGroupIds.map((id) => arn('ec2', p.region, p.accountId, `security-group/${id}`)));
      lists.push(...(t.prefixListIds ?? []).map((id) => arn('ec2', p.region, p.accountId, `prefix-list/${id}`)));
    }
    add(['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'ec2:ModifySecurityGroupRules', 'ec2:CreateTags', 'ec2:DeleteTags'], groups);
    add(['ec2:ModifyManagedPrefixList', 'ec2:GetManagedPrefixListEntries'], lists);
    if (groups.length > 0) add(['ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules', 'ec2:DescribeManagedPrefixLists'], ['*'], EC2_DESCRIBE_REASON);
  }

  if (fn === 'audit') {
    const distributions: string[] = [];
    const acls: string[] = [];
    const lists: string[] = [];
    for (const d of config.audit?.distributions ?? []) {
      const p = here(d.account, undefined);
      if (p?.home) distributions.push(distribution(p, d.id));
    }
    for (const w of config.audit?.webAcls ?? []) {
      const p = here(w.account, w.scope === 'CLOUDFRONT' ? undefined : w.region);
      if (!p || (w.scope === 'CLOUDFRONT' && !p.home)) continue;
      acls.push(webAcl(p, w), ...w.resourceArns);
    }
    for (const t of config.ipRanges?.targets ?? []) {
      const p = here(t.account, t.region);
      if (p) lists.push(...(t.prefixListIds ?? []).map((id) => arn('ec2', p.region, p.accountId, `prefix-list/${id}`)));
    }
    add(['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig'], distributions);
    add(['wafv2:GetWebACL', 'wafv2:GetLoggingConfiguration', 'wafv2:GetWebACLForResource'], acls);
    add(['ec2:GetManagedPrefixListEntries'], lists);
    // The audit role exists in every spoke (it proves access even with nothing configured there yet).
    add(
      [
        'ec2:DescribeSecurityGroups',
        'ec2:DescribeSecurityGroupRules',
        'ec2:DescribeManagedPrefixLists',
        'ec2:DescribeVpcPeeringConnections',
        'ec2:DescribeRouteTables',
        'ec2:DescribeTransitGateways',
        'ec2:DescribeTransitGatewayAttachments',
      ],
      ['*'],
      EC2_DESCRIBE_REASON,
    );
  }
  return out;
}

/** Whether a spoke needs this function's role: it has resources for it (the audit role is always there). */
export function needsSpokeRole(config: Config, fn: HubFunction, scope: SpokeScope): boolean {
  return fn === 'audit' || spokeStatements(config, fn, scope).length > 0;
}
