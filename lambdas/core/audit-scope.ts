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
  'aws.cloudfront': [
    'UpdateDistribution',
    'DeleteDistribution',
    'AssociateDistributionWebACL',
    'DisassociateDistributionWebACL',
    // Promoting a staging distribution replaces the primary's whole config.
    'UpdateDistributionWithStagingConfig',
    'UpdateVpcOrigin',
    'DeleteVpcOrigin',
    'UpdateOriginAccessControl',
    'DeleteOriginAccessControl',
  ],
  'aws.wafv2': [
    'UpdateWebACL',
    'DeleteWebACL',
    'AssociateWebACL',
    'DisassociateWebACL',
    'PutLoggingConfiguration',
    'DeleteLoggingConfiguration',
    // What a web ACL references: an IP set allowed ahead of the origin-verify rule, a rule group, a pattern set.
    'UpdateIPSet',
    'UpdateRuleGroup',
    'UpdateRegexPatternSet',
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
    // Swapping an ENI's groups changes who reaches the origin (names eni-...).
    'ModifyNetworkInterfaceAttribute',
    'AcceptVpcPeeringConnection',
    'ModifyVpcPeeringConnectionOptions',
    'ReplaceRouteTableAssociation',
    'CreateTransitGatewayRoute',
    'ReplaceTransitGatewayRoute',
    'DeleteTransitGatewayRoute',
    'AssociateTransitGatewayRouteTable',
    'DisassociateTransitGatewayRouteTable',
    'EnableTransitGatewayRouteTablePropagation',
    'DisableTransitGatewayRouteTablePropagation',
  ],
  // A load balancer's groups (names its ARN).
  'aws.elasticloadbalancing': ['SetSecurityGroups'],
  // origin-guard's own rules: disabling one silences the audit or the reconciler (names the rule).
  'aws.events': ['DisableRule', 'DeleteRule', 'RemoveTargets'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Calls whose named resource is referenced rather than configured (an IP set, a rule group, a pattern set, a
 * transit gateway route table): a scoped audit would read nothing, so they start a full audit.
 */
export const FULL_AUDIT_EVENT_NAMES: ReadonlySet<string> = new Set([
  'UpdateIPSet',
  'UpdateRuleGroup',
  'UpdateRegexPatternSet',
  'UpdateDistributionWithStagingConfig',
  'UpdateVpcOrigin',
  'DeleteVpcOrigin',
  'UpdateOriginAccessControl',
  'DeleteOriginAccessControl',
  'CreateTransitGatewayRoute',
  'ReplaceTransitGatewayRoute',
  'DeleteTransitGatewayRoute',
  'AssociateTransitGatewayRouteTable',
  'DisassociateTransitGatewayRouteTable',
  'EnableTransitGatewayRouteTablePropagation',
  'DisableTransitGatewayRouteTablePropagation',
  'ReplaceRouteTableAssociation',
]);

/** Every event name above, for an EventBridge pattern on `detail.eventName`. */
export const AUDIT_TRIGGER_EVENT_NAMES: readonly string[] = Object.values(AUDIT_TRIGGER_EVENTS).flat();

/** The `detail.eventSource` of each EventBridge source, for patterns that match on it. */
export const AUDIT_TRIGGER_EVENT_SOURCES: Record<keyof typeof AUDIT_TRIGGER_EVENTS, string> = {
  'aws.cloudfront': 'cloudfront.amazonaws.com',
  'aws.wafv2': 'wafv2.amazonaws.com',
  'aws.ec2': 'ec2.amazonaws.com',
  'aws.elasticloadbalancing': 'elasticloadbalancing.amazonaws.com',
  'aws.events': 'events.amazonaws.com',
};

const AWS_ID = /^(sg|sgr|pcx|rtb|tgw|tgw-attach|tgw-rtb|vpc|pl|eni)-[0-9a-f]{8,17}$/;
const MAX_DEPTH = 8;
const MAX_NODES = 5_000;

/**
 * Every resource an API call names: AWS ids (`sg-`, `pcx-`, `rtb-`, `tgw-attach-`, ...), ARNs, and for
 * CloudFront and WAF the `id` / `name` fields. Request shapes differ per call (and CloudTrail nests some
 * under `...Request` keys), so this walks the whole object, bounded in depth and size.
 */
export function identifiersOfApiCall(eventSource: string, requestParameters: unknown, responseElements?: unknown): string[] {
  const found = new Set<string>();
  const byKey = eventSource.startsWith('cloudfront') || eventSource.startsWith('wafv2') || eventSource.startsWith('events');
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

// ---------- debouncing bursts ----------

/** One event as the audit queue delivers it: where it happened, and what it names (undefined: everything). */
export interface QueuedAuditEvent {
  account: string;
  region: string;
  scope: AuditScope | undefined | 'skip';
}

export interface PlannedAuditRun {
  account: string;
  region: string;
  /** Undefined: a full audit (one of the events asked for everything). */
  scope: AuditScope | undefined;
  /** How many events this run answers. */
  events: number;
}

/**
 * One audit per account and region for a whole batch (a Terraform apply touching 50 rules is one run, not 50):
 * the scopes are merged, and any event asking for everything makes the run a full one. Events that changed
 * nothing (failed calls) are dropped.
 */
export function planAuditRuns(events: readonly QueuedAuditEvent[]): PlannedAuditRun[] {
  const runs = new Map<string, { account: string; region: string; full: boolean; identifiers: Set<string>; causes: Set<string>; events: number }>();
  for (const event of events) {
    if (event.scope === 'skip') continue;
    const key = `${event.account}/${event.region}`;
    const run = runs.get(key) ?? { account: event.account, region: event.region, full: false, identifiers: new Set<string>(), causes: new Set<string>(), events: 0 };
    run.events += 1;
    if (event.scope === undefined) run.full = true;
    else {
      for (const id of event.scope.identifiers) run.identifiers.add(id);
      if (event.scope.cause) run.causes.add(event.scope.cause);
    }
    runs.set(key, run);
  }
  return [...runs.values()].map((run) => ({
    account: run.account,
    region: run.region,
    events: run.events,
    scope: run.full ? undefined : { identifiers: [...run.identifiers], cause: [...run.causes].sort().join(', ') || undefined },
  }));
}
