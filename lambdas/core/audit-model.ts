/**
 * What the audit observed, as plain data, and the shape of a check. The collector (adapters/audit-collector.ts)
 * fills an ObservedAccount for what is configured; each check in core/checks/ turns it into findings.
 *
 * Secret values never enter this model: header values, WAF search strings and secret versions arrive as
 * fingerprints, so no check can leak one into a finding.
 */
import type { Rule, VisibilityConfig } from '@aws-sdk/client-wafv2';
import ipaddr from 'ipaddr.js';
import type { AuditConfig, IpRangeTargetConfig } from '../config.ts';
import type { Finding, ProbeResult, SecretDescription, Severity } from './ports.ts';
import type { TargetResult } from './reconcile.ts';

// ---------- WAF ----------

export type WebAclAuditConfig = NonNullable<AuditConfig['webAcls']>[number];

export interface ObservedWebAcl {
  config: WebAclAuditConfig;
  /** `wafv2:REGIONAL/gateway-acl`: stable whether or not the web ACL exists. */
  resource: string;
  /** Undefined when the web ACL does not exist. */
  webAcl?: {
    arn: string;
    /** The rules as WAF returns them; origin-verify rules are checked separately (by fingerprint). */
    rules: Rule[];
    /** Undefined when not read (models built by hand). */
    defaultAction?: 'ALLOW' | 'BLOCK';
    /** The web ACL's own VisibilityConfig. */
    visibility?: VisibilityConfig;
  };
  /** Whether a logging configuration exists; undefined when it was not read. */
  loggingEnabled?: boolean;
  /** Header names (lower-case) the logging configuration redacts; undefined when logging was not read. */
  redactedHeaders?: string[];
  /** Origin-verify headers this web ACL checks (from the `wafv2` validators on it): its logs must redact them. */
  secretHeaders: string[];
  /**
   * For each configured resource: the ARN of the web ACL associated with it, undefined for none, or
   * SWAPPED_WEB_ACL when reading it was denied (the role reads only the configured web ACLs: another one is there).
   */
  associations: Array<{ resourceArn: string; webAclArn?: string }>;
}

/** The origin-verify rule of one `wafv2` validator, read back by fingerprint. */
export interface ObservedOriginVerifyRule {
  /** The secret's `name` in the config. */
  secret: string;
  /** `wafv2:REGIONAL/gateway-acl/origin-verify`, the validator's id. */
  resource: string;
  headerName: string;
  /** `acl-missing`: no such web ACL; `rule-missing`: no rule of that name; `unrecognised`: edited by hand. */
  state: 'ok' | 'acl-missing' | 'rule-missing' | 'unrecognised';
  acceptedFingerprints: string[];
}

// ---------- CloudFront ----------

export interface ObservedOrigin {
  id: string;
  domainName: string;
  /** Undefined for S3 and other non-custom origins. */
  customOrigin?: { protocolPolicy: string; sslProtocols: string[] };
  /** Set for a CloudFront VPC origin (private ALB/NLB/EC2 reached through CloudFront's service group). */
  vpcOriginId?: string;
  /** Custom header name (lower-case) → fingerprint of its value. */
  headerFingerprints: Record<string, string>;
}

/** What else the audit reads of a distribution for the logging, viewer-TLS, S3 and VPC-origin checks. */
export interface ObservedDistributionSettings {
  /** Standard (legacy) access logging to S3 is enabled. */
  loggingEnabled: boolean;
  /** `TLSv1.2_2021` etc.; undefined when CloudFront returned none. */
  minimumViewerTlsVersion?: string;
  /** True when the viewer certificate is *.cloudfront.net (its TLS policy is AWS's, not configurable). */
  usesDefaultCertificate: boolean;
  /** Origins by kind: S3 origins with their origin access control / identity; VPC origins with their id. */
  s3Origins: Array<{ id: string; originAccessControlId?: string; originAccessIdentity?: string }>;
  vpcOrigins: Array<{ id: string; vpcOriginId: string }>;
}

export interface ObservedDistribution {
  id: string;
  /** Undefined when the distribution does not exist. */
  distribution?: {
    /** WAFv2 web ACL ARN (or a classic WAF id), empty when none. */
    webAclId: string;
    origins: ObservedOrigin[];
    /** The default behaviour (`*`) and every cache behaviour. */
    behaviors: Array<{ pathPattern: string; viewerProtocolPolicy: string }>;
    /** Undefined when observed by an older collector (tests building the model by hand). */
    settings?: ObservedDistributionSettings;
  };
  /** Expected web ACL name; any web ACL when undefined. */
  expectedWebAclName?: string;
  /** Audited because it is listed under audit.distributions (web ACL, TLS, viewer checks). */
  listed: boolean;
  /** Secrets this distribution sends, from the cloudfront senders: which origins carry which header. */
  senders: Array<{ secret: string; headerName: string; originIds?: string[] }>;
}

// ---------- security groups ----------

export interface ObservedIngressRule {
  ruleId: string;
  /** `tcp`, `udp`, `icmp`, or `-1` for all. */
  protocol: string;
  fromPort?: number;
  toPort?: number;
  cidrIpv4?: string;
  cidrIpv6?: string;
  prefixListId?: string;
  referencedGroupId?: string;
  description?: string;
  /** What the rule counts as against the group's quota: a prefix-list reference counts as the list's MaxEntries. Default 1. */
  weight?: number;
}

export interface ObservedSecurityGroup {
  groupId: string;
  /** Undefined when the group does not exist. */
  ingress?: ObservedIngressRule[];
}

export interface ObservedSecurityGroupTarget {
  target: IpRangeTargetConfig;
  groups: ObservedSecurityGroup[];
  /**
   * Reconcile's own dry run for the target (sources loaded now, planned against the groups' rules and the
   * remembered state): the owned rules equal the desired set when it is `in-sync`. Undefined when it could
   * not run (the read failure says why).
   */
  desired?: Pick<TargetResult, 'status' | 'groups' | 'notes' | 'held'> & Partial<Pick<TargetResult, 'syncToken' | 'previousSyncToken'>>;
}

/** Each security group of the targets once, with what the targets ask of it. */
export function securityGroupsOf(targets: ObservedSecurityGroupTarget[]) {
  const groups = new Map<string, { group: ObservedSecurityGroup; targets: IpRangeTargetConfig[] }>();
  for (const t of targets) {
    for (const group of t.groups) {
      const entry = groups.get(group.groupId) ?? { group, targets: [] };
      entry.targets.push(t.target);
      groups.set(group.groupId, entry);
    }
  }
  return [...groups.values()];
}

// ---------- networks ----------

export interface ObservedRoute {
  /** A CIDR (IPv4 or IPv6) or a prefix list id. */
  destination: string;
  vpcPeeringConnectionId?: string;
  transitGatewayId?: string;
  state?: string;
}

export interface ObservedRouteTable {
  id: string;
  /** Undefined when the route table does not exist. */
  routes?: ObservedRoute[];
}

export interface ObservedPeering {
  config: NonNullable<AuditConfig['peerings']>[number];
  /** Undefined when the peering does not exist. */
  state?: string;
  /** Whether each side resolves the other's private DNS names to private addresses; undefined when not read. */
  dnsResolution?: { requester: boolean; accepter: boolean };
  routeTables: ObservedRouteTable[];
}

export interface ObservedTransitGatewayAttachment {
  config: NonNullable<AuditConfig['transitGateways']>[number];
  /** Undefined when the attachment does not exist. */
  attachment?: { state: string; transitGatewayId: string };
  /** Undefined when it was not read (no attachment). */
  transitGateway?: { id: string; autoAcceptSharedAttachments: string };
  /** The transit gateway route tables the attachment is associated with and propagates to; read when the config lists allowed ones. */
  tgwRouteTables?: { associatedWith: string[]; propagatesTo: string[] };
  routeTables: ObservedRouteTable[];
}

// ---------- secrets ----------

export interface ObservedSecret {
  /** The secret's `name` in the config. */
  name: string;
  secretName: string;
  headerName: string;
  rotationDays: number;
  overlapMinutes: number;
  /** Stages, dates and tags; undefined when the secret does not exist. */
  description?: SecretDescription;
  /** Version id → fingerprint of its value (current, pending and overlap versions). */
  fingerprints: Record<string, string>;
}

// ---------- Konnect ----------

export interface ObservedKonnectNetwork {
  networkId: string;
  /** Undefined when the network does not exist. */
  network?: { name: string; state: string };
  attachments: Array<{ id: string; name: string; kind: string; state: string }>;
}

// ---------- probes ----------

export interface ObservedProbe {
  name: string;
  /** The status a refused request gets (403 unless the config says otherwise, e.g. Kong's 404). */
  expectedStatus?: number;
  originUrl: string;
  cdnUrl?: string;
  headerName: string;
  withoutHeader: ProbeResult;
  wrongValue: ProbeResult;
  throughCdn?: ProbeResult;
}

// ---------- origins (attack paths) ----------

export type AuditOriginConfig = NonNullable<AuditConfig['origins']>[number];

export interface ObservedAuditOrigin {
  config: AuditOriginConfig;
  /** `origin:<name>` */
  resource: string;
  /** The listed groups and those attached to the listed load balancers and network interfaces. */
  groups: ObservedSecurityGroup[];
  /** Where each group came from: `listed`, a load balancer ARN or a network interface id. */
  groupSources: Record<string, string[]>;
  /**
   * Whether something checks the origin-verify header of this origin: `none` (no secret configured, or one
   * without validators), `broken` (its WAF rule is missing or edited), `present`.
   */
  headerCheck: 'none' | 'broken' | 'present';
  /** The VPC's `CloudFront-VPCOrigins-Service-SG`, when the origin is a VPC origin and the group exists. */
  vpcOriginServiceGroupId?: string;
  /** Whether a listed load balancer is internet-facing (undefined when none is listed). */
  internetFacing?: boolean;
}

/** The security group CloudFront creates in a VPC for its VPC origins. */
export const VPC_ORIGIN_SERVICE_GROUP_NAME = 'CloudFront-VPCOrigins-Service-SG';

/** One of origin-guard's own EventBridge rules (schedules and CloudTrail triggers). */
export interface ObservedWatchedRule {
  name: string;
  /** Undefined when the rule does not exist. */
  state?: string;
  targets: number;
}

// ---------- the whole account ----------

/** Something the collector could not read: the checks that need it cannot say pass or fail. */
export interface ReadFailure {
  resource: string;
  /** What was being read, e.g. `GetWebACL`. */
  what: string;
  error: string;
}

export interface ObservedAccount {
  webAcls: ObservedWebAcl[];
  originVerifyRules: ObservedOriginVerifyRule[];
  distributions: ObservedDistribution[];
  securityGroupTargets: ObservedSecurityGroupTarget[];
  peerings: ObservedPeering[];
  transitGateways: ObservedTransitGatewayAttachment[];
  secrets: ObservedSecret[];
  konnectNetworks: ObservedKonnectNetwork[];
  probes: ObservedProbe[];
  origins: ObservedAuditOrigin[];
  /** Entries (CIDRs) of the prefix lists the observed groups reference, and the CloudFront origin-facing list. */
  prefixLists: Record<string, { name?: string; awsManaged: boolean; cidrs: string[] }>;
  /** The id of `com.amazonaws.global.cloudfront.origin-facing` in this region, when known. */
  cloudFrontPrefixListId?: string;
  /** origin-guard's own rules; empty when none are watched. */
  watchedRules: ObservedWatchedRule[];
  readFailures: ReadFailure[];
  /** Every resource the collector tried to read, so a read failure resolves once the read works again. */
  readResources: string[];
  /** Audit settings that checks need (grace periods). */
  settings: AuditSettings;
}

export interface AuditSettings {
  /** Extra time past `rotationDays` before an old secret is a finding. */
  rotationGraceHours: number;
  /** Extra time past `overlapMinutes` before an open overlap is a finding. */
  overlapGraceMinutes: number;
  /** An AWSPENDING older than this is a stuck rotation. */
  pendingMaxMinutes: number;
  /** A security group with fewer free rule slots than this fraction of its quota is a finding. */
  quotaHeadroomFraction: number;
  /** A CIDR admitting more than this share of its family's address space is broad (audit.broadIngressShare). */
  broadIngressShare: number;
}

export const DEFAULT_AUDIT_SETTINGS: AuditSettings = {
  rotationGraceHours: 24,
  overlapGraceMinutes: 15,
  pendingMaxMinutes: 60,
  quotaHeadroomFraction: 0.1,
  broadIngressShare: 0.001,
};

export function emptyObservedAccount(settings: AuditSettings = DEFAULT_AUDIT_SETTINGS): ObservedAccount {
  return {
    webAcls: [],
    originVerifyRules: [],
    distributions: [],
    securityGroupTargets: [],
    peerings: [],
    transitGateways: [],
    secrets: [],
    konnectNetworks: [],
    probes: [],
    origins: [],
    prefixLists: {},
    watchedRules: [],
    readFailures: [],
    readResources: [],
    settings,
  };
}

// ---------- checks ----------

export interface AuditCheck {
  /** e.g. `waf.associated`; part of every finding id, so never rename one. */
  readonly id: string;
  /** Short title, e.g. for SARIF rules. */
  readonly title: string;
  readonly severity: Severity;
  run(observed: ObservedAccount, now: Date): Finding[];
}

/** A finding of `check` on `resource`, with the stable id `<checkId>:<resource>`. */
export function findingOf(
  check: Pick<AuditCheck, 'id' | 'severity'>,
  resource: string,
  pass: boolean,
  message: string,
  remediation: string,
  details?: Record<string, unknown>,
): Finding {
  return {
    id: `${check.id}:${resource}`,
    checkId: check.id,
    severity: check.severity,
    status: pass ? 'PASS' : 'FAIL',
    resource,
    message,
    remediation,
    ...(details ? { details } : {}),
  };
}

/** A finding that could not be decided: it neither fails nor passes (and so never resolves an alert). */
export function inconclusiveOf(
  check: Pick<AuditCheck, 'id' | 'severity'>,
  resource: string,
  message: string,
  remediation: string,
  details?: Record<string, unknown>,
): Finding {
  return { ...findingOf(check, resource, false, message, remediation, details), status: 'INCONCLUSIVE' };
}

/** The readable tail of an ARN: `app/alb/123` of a load balancer, `gateway-acl` of a web ACL. */
export function shortName(arnOrId: string): string {
  if (!arnOrId.startsWith('arn:')) return arnOrId;
  const resource = arnOrId.split(':').slice(5).join(':');
  const webAcl = /(?:^|\/)webacl\/([^/]+)\//.exec(resource);
  if (webAcl) return webAcl[1];
  return resource.replace(/^loadbalancer\//, '').replace(/^(restapis|apis)\//, '$1/');
}

// ---------- CIDRs ----------

function parseCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try {
    return ipaddr.parseCIDR(text);
  } catch {
    return undefined;
  }
}

/** Whether `inner` lies inside `outer` (equal counts); false for anything that is not a CIDR. */
export function cidrWithin(inner: string, outer: string): boolean {
  const a = parseCidr(inner);
  const b = parseCidr(outer);
  if (!a || !b || a[0].kind() !== b[0].kind() || a[1] < b[1]) return false;
  return (a[0] as ipaddr.IPv4).match(b[0] as ipaddr.IPv4, b[1]);
}

export const OPEN_CIDRS = ['0.0.0.0/0', '::/0'];

/** An association read as AccessDenied: a web ACL origin-guard may not read, so not the configured one. */
export const SWAPPED_WEB_ACL = 'unreadable:another-web-acl';

/** The share of its family's address space a CIDR covers (1 for 0.0.0.0/0 or ::/0); 0 for anything else. */
export function addressShare(cidr: string): number {
  const parsed = parseCidr(cidr);
  if (!parsed) return 0;
  const bits = parsed[0].kind() === 'ipv4' ? 32 : 128;
  return 2 ** -Math.min(parsed[1], bits);
}

/** Whether an ingress rule opens `port` of `protocol`. */
export function opensPort(rule: ObservedIngressRule, protocol: string, port: number): boolean {
  if (rule.protocol === '-1') return true;
  if (rule.protocol !== protocol) return false;
  return (rule.fromPort ?? -1) <= port && port <= (rule.toPort ?? -1);
}

/**
 * The CIDRs a rule admits: its own, or the entries of the prefix list it references (customer lists are
 * expanded; AWS-managed ones are not, as nobody outside AWS can widen them).
 */
export function cidrsOfRule(rule: ObservedIngressRule, prefixLists: ObservedAccount['prefixLists']): string[] {
  const own = rule.cidrIpv4 ?? rule.cidrIpv6;
  if (own) return [own];
  const list = rule.prefixListId ? prefixLists[rule.prefixListId] : undefined;
  return list && !list.awsManaged ? list.cidrs : [];
}

/** Each group of the ip-range targets and the audited origins once, with the ports and protocols it serves. */
export function originGroupsOf(observed: ObservedAccount): Array<{ group: ObservedSecurityGroup; ports: Array<{ protocol: string; port: number }> }> {
  const byId = new Map<string, { group: ObservedSecurityGroup; ports: Array<{ protocol: string; port: number }> }>();
  const add = (group: ObservedSecurityGroup, protocol: string, ports: number[]) => {
    const entry = byId.get(group.groupId) ?? { group, ports: [] };
    if (!entry.group.ingress && group.ingress) entry.group = group;
    for (const port of ports) if (!entry.ports.some((p) => p.port === port && p.protocol === protocol)) entry.ports.push({ protocol, port });
    byId.set(group.groupId, entry);
  };
  for (const t of observed.securityGroupTargets) for (const g of t.groups) add(g, t.target.protocol, t.target.ports);
  for (const o of observed.origins) for (const g of o.groups) add(g, o.config.protocol, o.config.ports);
  return [...byId.values()];
}
