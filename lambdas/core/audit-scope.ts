/**
 * Which resources an event-driven audit looks at, and which CloudTrail API calls start one. Pure: the CDK
 * stack imports the event names for its EventBridge rules, the audit handler maps an event to a scope.
 */

/** Resources named by an event (ids, names, ARNs); an audit with a scope reads only configured items they name. */
export interface AuditScope {
  identifiers: string[];
  /** For logs: what caused the run, e.g. `ec2.amazonaws.com:AuthorizeSecurityGroupIngress`. */
  cause?: string;
}

/**
 * The CloudTrail API calls that can cause drift, by EventBridge `source`. CloudFront and CLOUDFRONT-scope
 * WAF calls are recorded in us-east-1 only: their rule must live there (or receive them from there).
 */
export const AUDIT_TRIGGER_EVENTS = {
  'aws.cloudfront': ['UpdateDistribution', 'DeleteDistribution', 'AssociateDistributionWebACL', 'DisassociateDistributionWebACL'],
  'aws.wafv2': [
    'UpdateWebACL',
    'DeleteWebACL',
    'AssociateWebACL',
    'DisassociateWebACL',
    'PutLoggingConfiguration',
    'DeleteLoggingConfiguration',
  ],
  'aws.ec2': [
    'AuthorizeSecurityGroupIngress',
    'RevokeSecurityGroupIngress',
    'ModifySecurityGroupRules',
    // A description edit moves a rule in or out of origin-guard's ownership (`origin-guard:<target>:...`).
    'UpdateSecurityGroupRuleDescriptionsIngress',
    'DeleteSecurityGroup',
    // A prefix list's entries are what a group admits through a reference (names the list: pl-...).
    'ModifyManagedPrefixList',
    'RestoreManagedPrefixListVersion',
    'DeleteVpcPeeringConnection',
    'RejectVpcPeeringConnection',
    'CreateRoute',
    'ReplaceRoute',
    'DeleteRoute',
    'ModifyTransitGateway',
    'DeleteTransitGatewayVpcAttachment',
    'RejectTransitGatewayVpcAttachment',
  ],
} as const satisfies Record<string, readonly string[]>;

/** Every event name above, for an EventBridge pattern on `detail.eventName`. */
export const AUDIT_TRIGGER_EVENT_NAMES: readonly string[] = Object.values(AUDIT_TRIGGER_EVENTS).flat();

/** The `detail.eventSource` of each EventBridge source, for patterns that match on it. */
export const AUDIT_TRIGGER_EVENT_SOURCES: Record<keyof typeof AUDIT_TRIGGER_EVENTS, string> = {
  'aws.cloudfront': 'cloudfront.amazonaws.com',
  'aws.wafv2': 'wafv2.amazonaws.com',
  'aws.ec2': 'ec2.amazonaws.com',
};

const AWS_ID = /^(sg|sgr|pcx|rtb|tgw|tgw-attach|tgw-rtb|vpc|pl)-[0-9a-f]{8,17}$/;
const MAX_DEPTH = 8;
const MAX_NODES = 5_000;

/**
 * Every resource an API call names: AWS ids (`sg-`, `pcx-`, `rtb-`, `tgw-attach-`, ...), ARNs, and for
 * CloudFront and WAF the `id` / `name` fields. Request shapes differ per call (and CloudTrail nests some
 * under `...Request` keys), so this walks the whole object, bounded in depth and size.
 */
export function identifiersOfApiCall(eventSource: string, requestParameters: unknown, responseElements?: unknown): string[] {
  const found = new Set<string>();
  const byKey = eventSource.startsWith('cloudfront') || eventSource.startsWith('wafv2');
  let nodes = 0;
  const walk = (value: unknown, key: string | undefined, depth: number) => {
    if (nodes++ > MAX_NODES || depth > MAX_DEPTH || value === null || value === undefined) return;
    if (typeof value === 'string') {
      if (AWS_ID.test(value) || value.startsWith('arn:')) found.add(value);
      else if (byKey && key && /^(id|name|webaclid|webaclarn|resourcearn)$/i.test(key)) found.add(value);
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) walk(item, key, depth + 1);
      return;
    }
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, k, depth + 1);
    }
  };
  walk(requestParameters, undefined, 0);
  walk(responseElements, undefined, 0);
  return [...found];
}

/** Whether a scoped run should look at an item known by these names; no scope means everything. */
export function inScope(scope: AuditScope | undefined, ...names: Array<string | undefined>): boolean {
  if (!scope) return true;
  return names.some((name) => name !== undefined && scope.identifiers.some((id) => sameResource(id, name)));
}

/** `sg-1` names the same resource as `arn:aws:ec2:...:security-group/sg-1`, either way round. */
function sameResource(a: string, b: string): boolean {
  if (a === b) return true;
  const endsWithName = (arn: string, name: string) => arn.startsWith('arn:') && !name.startsWith('arn:') && name.length > 3 && arn.endsWith(`/${name}`);
  return endsWithName(a, b) || endsWithName(b, a);
}
