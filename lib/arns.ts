import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** CloudFront's control plane, its CloudTrail events and CLOUDFRONT-scope WAF live in us-east-1. */
export const GLOBAL_REGION = 'us-east-1';

export type WafScope = 'REGIONAL' | 'CLOUDFRONT';

/** `arn:aws:cloudfront::ACCOUNT:distribution/ID` (CloudFront ARNs have no region). */
export function distributionArn(scope: IConstruct, distributionId: string): string {
  return Stack.of(scope).formatArn({ service: 'cloudfront', region: '', resource: 'distribution', resourceName: distributionId });
}

function wafArn(scope: IConstruct, wafScope: WafScope, resourceName: string): string {
  const stack = Stack.of(scope);
  return stack.formatArn({
    service: 'wafv2',
    region: wafScope === 'CLOUDFRONT' ? GLOBAL_REGION : stack.region,
    resource: wafScope === 'CLOUDFRONT' ? 'global' : 'regional',
    resourceName,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** `arn:aws:wafv2:REGION:ACCOUNT:regional|global/webacl/NAME/ID`; CLOUDFRONT scope is always us-east-1. */
export function webAclArn(scope: IConstruct, acl: { scope: WafScope; name: string; id: string }): string {
  return wafArn(scope, acl.scope, `webacl/${acl.name}/${acl.id}`);
}

/**
 * `UpdateWebACL` is authorised on the web ACL and on every rule group, managed rule group, IP set and regex
 * pattern set the ACL references (AWS WAF API permissions reference). The rotation keeps the ACL's other
 * rules as they are, so it must be allowed to reference whatever they reference: these are the ARN patterns
 * of those types in one scope. Allowing `UpdateWebACL` on them does not allow changing them
 * (that is `UpdateRuleGroup`, `UpdateIPSet`, `UpdateRegexPatternSet`).
 */
export function wafReferencedResourceArns(scope: IConstruct, wafScope: WafScope): string[] {
  return ['managedruleset', 'rulegroup', 'ipset', 'regexpatternset'].map((type) => wafArn(scope, wafScope, `${type}/*/*`));
}

/** `arn:aws:ec2:REGION:ACCOUNT:security-group/sg-…` in the stack's region. */
export function securityGroupArn(scope: IConstruct, groupId: string): string {
  return Stack.of(scope).formatArn({ service: 'ec2', resource: 'security-group', resourceName: groupId });
}

/** `arn:aws:ec2:REGION:ACCOUNT:prefix-list/pl-…` in the stack's region. */
export function prefixListArn(scope: IConstruct, prefixListId: string): string {
  return Stack.of(scope).formatArn({ service: 'ec2', resource: 'prefix-list', resourceName: prefixListId });
}

/** Distinct values, in first-seen order. */
export function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}
