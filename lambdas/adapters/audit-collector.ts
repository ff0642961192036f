/**
 * Reads the observed state of everything the config names (WAF, CloudFront, security groups, peering,
 * transit gateways, secrets, Konnect networks, probes) into the audit's plain model. Secret values are
 * fingerprinted here, as soon as they are read, and go no further.
 *
 * A read that fails is recorded (the `audit.read` check reports it) and the checks that need it stay silent;
 * a resource that does not exist is an observation, not a failure.
 */
import { randomBytes } from 'node:crypto';
import {
  DescribeManagedPrefixListsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  GetManagedPrefixListEntriesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeTransitGatewayAttachmentsCommand,
  DescribeTransitGatewayRouteTablesCommand,
  GetTransitGatewayRouteTableAssociationsCommand,
  GetTransitGatewayRouteTablePropagationsCommand,
  DescribeTransitGatewaysCommand,
  DescribeVpcPeeringConnectionsCommand,
  type RouteTable,
  type SecurityGroupRule,
  type DescribeSecurityGroupRulesCommandOutput,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { GetLoggingConfigurationCommand, GetWebACLForResourceCommand, type LoggingConfiguration, type WebACL } from '@aws-sdk/client-wafv2';
import type { Config, IpRangeTargetConfig } from '../config.ts';
import {
  DEFAULT_AUDIT_SETTINGS,
  SWAPPED_WEB_ACL,
  VPC_ORIGIN_SERVICE_GROUP_NAME,
  emptyObservedAccount,
  type AuditSettings,
  type ObservedAccount,
  type ObservedDistribution,
  type ObservedIngressRule,
  type ObservedRouteTable,
  type ObservedAuditOrigin,
  type ObservedSecret,
  type ObservedSecurityGroup,
  type ObservedWebAcl,
} from '../core/audit-model.ts';
import { inScope, type AuditScope } from '../core/audit-scope.ts';
import type { AuditObserverPort } from '../core/audit.ts';
import { describeError } from '../core/errors.ts';
import { fingerprint } from '../core/fingerprint.ts';
import { silentLog, systemClock, type AlertPort, type LogPort, type ProbePort } from '../core/ports.ts';
import { reconcileTarget, type TargetResult } from '../core/reconcile.ts';
import { acceptedVersionIds, rotationView } from '../core/rotation-state.ts';
import { acceptedValuesOfRule } from '../core/waf-rule.ts';
import type { AwsClients } from './aws-clients.ts';
import { getDistributionView } from './cloudfront.ts';
import { Ec2SecurityGroupStore, prefixListSizes } from './ec2-security-groups.ts';
import { httpProbe } from './http-probe.ts';
import { HttpIpFeeds } from './ip-feeds.ts';
import { elbv2Sdk, eventBridgeSdk } from './on-demand-clients.ts';
import { KONNECT_GLOBAL_API_URL, KonnectClient } from './konnect.ts';
import { SecretsManagerStore } from './secrets-manager.ts';
import { TokenReader } from './tokens.ts';
import { getWebAcl, type WebAclRef } from './wafv2.ts';

export interface AuditCollectorOptions {
  clients: AwsClients;
  /** Probes for `audit.probes`; default: a plain HTTP client with each probe's timeout. */
  probe?: ProbePort;
  /** HTTP client for Konnect (tests pass one bound to their fake server). */
  fetch?: typeof fetch;
  /**
   * Reconcile's dry run for a target (what it would add and remove now). Default: reconcile's own
   * `reconcileTarget` in dry-run mode, on the live feeds and security groups.
   */
  previewReconcile?: (target: IpRangeTargetConfig) => Promise<TargetResult>;
  settings?: Partial<AuditSettings>;
  log?: LogPort;
  /** The wrong header value the probes send: random, never a real one. */
  wrongValue?: () => string;
  /**
   * origin-guard's own EventBridge rules to check (the audit function gets them from ORIGIN_GUARD_WATCHED_RULES):
   * each must exist, be enabled and have a target.
   */
  watchedRules?: string[];
}

/** The AWS-managed prefix list of CloudFront's origin-facing addresses. */
export const CLOUDFRONT_PREFIX_LIST_NAME = 'com.amazonaws.global.cloudfront.origin-facing';

/** Bounds the pages read from one EC2 describe call. */
const MAX_PAGES = 50;

const NOT_FOUND = new Set([
  'WAFNonexistentItemException',
  'NoSuchDistribution',
  'ResourceNotFoundException',
  'InvalidGroup.NotFound',
  'InvalidRouteTableID.NotFound',
  'InvalidVpcPeeringConnectionID.NotFound',
  'InvalidTransitGatewayAttachmentID.NotFound',
  'InvalidTransitGatewayID.NotFound',
  'ResourceNotFoundException',
  'LoadBalancerNotFound',
  'LoadBalancerNotFoundException',
  'InvalidNetworkInterfaceID.NotFound',
]);

/** Whether an error (or the SDK error it wraps) says the resource does not exist. */
function isNotFound(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth += 1) {
    if (e.name && NOT_FOUND.has(e.name)) return true;
  }
  return false;
}

type Read<T> = { ok: true; value: T } | { ok: false };

function isAccessDenied(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth += 1) {
    if (e.name === 'AccessDeniedException' || e.name === 'WAFAccessDeniedException' || e.name === 'AccessDenied') return true;
  }
  return false;
}

const webAclResource = (ref: WebAclRef) => `wafv2:${ref.scope}/${ref.name}`;

export class AwsAuditCollector implements AuditObserverPort {
  private readonly settings: AuditSettings;
  private readonly log: LogPort;
  private tokenReader: TokenReader | undefined;

  constructor(
    private readonly config: Config,
    private readonly options: AuditCollectorOptions,
  ) {
    this.settings = {
      ...DEFAULT_AUDIT_SETTINGS,
      ...(config.audit?.rotationGraceHours !== undefined ? { rotationGraceHours: config.audit.rotationGraceHours } : {}),
      ...(config.audit?.overlapGraceMinutes !== undefined ? { overlapGraceMinutes: config.audit.overlapGraceMinutes } : {}),
      ...options.settings,
    };
    this.log = options.log ?? silentLog;
  }

  /** Built on first use (Konnect), with its cache kept across runs: most account-regions read no token. */
  private readonly tokens = (): TokenReader => (this.tokenReader ??= new TokenReader(this.options.clients.secretsManager()));

  async observe(scope?: AuditScope): Promise<ObservedAccount> {
    const observed = emptyObservedAccount(this.settings);
    const run = new CollectorRun(this.config, this.options, observed, this.log, this.tokens, scope);
    await run.collect();
    return observed;
  }
}

/** One observation: memoised reads shared between the checks' needs. */
class CollectorRun {
  private readonly webAcls = new Map<string, Promise<Read<WebACL | undefined>>>();
  private readonly ruleReads = new Map<string, Promise<DescribeSecurityGroupRulesCommandOutput>>();
  private readonly read = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly options: AuditCollectorOptions,
    private readonly observed: ObservedAccount,
    private readonly log: LogPort,
    private readonly tokens: () => TokenReader,
    private readonly scope: AuditScope | undefined,
  ) {}

  async collect(): Promise<void> {
    await Promise.all([
      this.collectWebAcls(),
      this.collectOriginVerifyRules(),
      this.collectDistributions(),
      this.collectSecurityGroups(),
      this.collectPeerings(),
      this.collectTransitGateways(),
      this.collectSecrets(),
      this.collectKonnect(),
      this.collectProbes(),
      this.collectOrigins(),
      this.collectWatchedRules(),
    ]);
    // After the groups are read: expand the customer prefix lists they reference, find CloudFront's list.
    await this.collectPrefixLists();
    this.observed.readResources.push(...this.read);
  }

  /**
   * The run's EC2 client with DescribeSecurityGroupRules read once per request (the same groups, in any order,
   * and page): a target's reconcile dry run asks for the rules the group read already read.
   */
  private ec2ReadingRulesOnce(): EC2Client {
    const ec2 = this.options.clients.ec2();
    const reads = this.ruleReads;
    const send = (command: unknown, ...rest: unknown[]) => {
      if (!(command instanceof DescribeSecurityGroupRulesCommand) || rest.length > 0) return (ec2.send as (...a: unknown[]) => unknown)(command, ...rest);
      const { Filters, SecurityGroupRuleIds, NextToken, MaxResults, DryRun } = command.input;
      const key = JSON.stringify([
        (Filters ?? []).map((f) => [f.Name, [...(f.Values ?? [])].sort()]).sort(),
        [...(SecurityGroupRuleIds ?? [])].sort(),
        NextToken ?? '',
        MaxResults ?? 0,
        DryRun ?? false,
      ]);
      let read = reads.get(key);
      if (!read) {
        read = ec2.send(command);
        reads.set(key, read);
        read.catch(() => reads.delete(key));
      }
      return read;
    };
    return new Proxy(ec2, { get: (target, prop, receiver) => (prop === 'send' ? send : Reflect.get(target, prop, receiver)) });
  }

  /** Runs one read; a failure is recorded against `resource` instead of thrown. */
  private async attempt<T>(resource: string, what: string, fn: () => Promise<T>): Promise<Read<T>> {
    this.read.add(resource);
    try {
      return { ok: true, value: await fn() };
    } catch (error) {
      this.log.warn('audit read failed', { resource, what, error: describeError(error) });
      this.observed.readFailures.push({ resource, what, error: describeError(error) });
      return { ok: false };
    }
  }

  // ---------- WAF ----------

  /** The web ACL, undefined when it does not exist; read once per run. */
  private webAcl(ref: WebAclRef): Promise<Read<WebACL | undefined>> {
    const key = `${ref.scope}/${ref.name}/${ref.id}`;
    let read = this.webAcls.get(key);
    if (!read) {
      read = this.attempt(webAclResource(ref), 'GetWebACL', async () => {
        try {
          return (await getWebAcl(this.options.clients.wafv2(ref.scope), ref)).webAcl;
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw error;
        }
      });
      this.webAcls.set(key, read);
    }
    return read;
  }

  private async collectWebAcls(): Promise<void> {
    const configured = (this.config.audit?.webAcls ?? []).filter((acl) => inScope(this.scope, acl.name, acl.id, ...acl.resourceArns));
    const results = await Promise.all(
      configured.map(async (config): Promise<ObservedWebAcl | undefined> => {
        const ref: WebAclRef = { scope: config.scope, name: config.name, id: config.id };
        const resource = webAclResource(ref);
        // WAF logs carry every request header: the origin-verify headers this web ACL checks must be redacted.
        const secretHeaders = [
          ...new Set(
            this.config.secrets.flatMap((s) =>
              s.validators.some((v) => v.type === 'wafv2' && v.scope === config.scope && v.webAclName === config.name) ? [s.headerName.toLowerCase()] : [],
            ),
          ),
        ];
        const read = await this.webAcl(ref);
        if (!read.ok) return undefined;
        const webAcl = read.value;
        if (!webAcl?.ARN) return { config, resource, secretHeaders, associations: [] };
        const arn = webAcl.ARN;
        const client = this.options.clients.wafv2(config.scope);
        const [logging, associations] = await Promise.all([
          config.requireLogging || secretHeaders.length > 0
            ? this.attempt(resource, 'GetLoggingConfiguration', async () => {
                try {
                  const response = await client.send(new GetLoggingConfigurationCommand({ ResourceArn: arn }));
                  return response.LoggingConfiguration;
                } catch (error) {
                  if (isNotFound(error)) return null;
                  throw error;
                }
              })
            : Promise.resolve<Read<LoggingConfiguration | null | undefined>>({ ok: true, value: undefined }),
          Promise.all(config.resourceArns.map((resourceArn) => this.associationOf(resourceArn, config.scope))),
        ]);
        const loggingRead = logging.ok && logging.value !== undefined;
        return {
          config,
          resource,
          secretHeaders,
          webAcl: {
            arn,
            rules: webAcl.Rules ?? [],
            defaultAction: webAcl.DefaultAction?.Block ? 'BLOCK' : 'ALLOW',
            ...(webAcl.VisibilityConfig ? { visibility: webAcl.VisibilityConfig } : {}),
          },
          loggingEnabled: loggingRead ? Boolean(logging.value) : undefined,
          redactedHeaders: loggingRead
            ? (logging.value?.RedactedFields ?? []).flatMap((f) => (f.SingleHeader?.Name ? [f.SingleHeader.Name.toLowerCase()] : []))
            : undefined,
          associations: associations.filter((a) => a !== undefined),
        };
      }),
    );
    this.observed.webAcls.push(...results.filter((r): r is ObservedWebAcl => r !== undefined));
  }

  /** The web ACL on a resource. CloudFront keeps it in the distribution (GetWebACLForResource does not serve it). */
  private async associationOf(resourceArn: string, scope: 'REGIONAL' | 'CLOUDFRONT'): Promise<{ resourceArn: string; webAclArn?: string } | undefined> {
    const distributionId = /^arn:aws[a-z-]*:cloudfront::\d+:distribution\/([A-Z0-9]+)$/.exec(resourceArn)?.[1];
    const read = await this.attempt(resourceArn, distributionId ? 'GetDistribution' : 'GetWebACLForResource', async () => {
      if (distributionId) {
        const view = await getDistributionView(this.options.clients.cloudFront(), distributionId);
        return view.webAclId;
      }
      try {
        const response = await this.options.clients.wafv2(scope).send(new GetWebACLForResourceCommand({ ResourceArn: resourceArn }));
        return response.WebACL?.ARN;
      } catch (error) {
        // WAF answers "nonexistent" both for a resource without a web ACL and for a deleted resource.
        if (isNotFound(error)) return undefined;
        // The role may read only the configured web ACLs (and the resource): denied means another web ACL sits
        // on the resource, a swap, which is drift of its own and not a mere read failure.
        if (isAccessDenied(error)) return SWAPPED_WEB_ACL;
        throw error;
      }
    });
    return read.ok ? { resourceArn, webAclArn: read.value } : undefined;
  }

  private async collectOriginVerifyRules(): Promise<void> {
    const jobs = this.config.secrets.flatMap((secret) =>
      secret.validators.flatMap((validator) => {
        if (validator.type !== 'wafv2') return [];
        if (!inScope(this.scope, validator.webAclName, validator.webAclId, secret.name, secret.secretName)) return [];
        return [{ secret, validator }];
      }),
    );
    for (const { secret, validator } of jobs) {
      const ref: WebAclRef = { scope: validator.scope, name: validator.webAclName, id: validator.webAclId };
      const read = await this.webAcl(ref);
      if (!read.ok) continue;
      const resource = `wafv2:${validator.scope}/${validator.webAclName}/${validator.ruleName}`;
      const base = { secret: secret.name, resource, headerName: secret.headerName };
      if (!read.value) {
        this.observed.originVerifyRules.push({ ...base, state: 'acl-missing', acceptedFingerprints: [] });
        continue;
      }
      const rule = read.value.Rules?.find((r) => r.Name === validator.ruleName);
      const values = rule ? acceptedValuesOfRule(rule, secret.headerName) : undefined;
      this.observed.originVerifyRules.push({
        ...base,
        state: !rule ? 'rule-missing' : values === undefined ? 'unrecognised' : 'ok',
        acceptedFingerprints: (values ?? []).map(fingerprint),
      });
    }
  }

  // ---------- CloudFront ----------

  private async collectDistributions(): Promise<void> {
    const byId = new Map<string, ObservedDistribution>();
    const entry = (id: string) => {
      let d = byId.get(id);
      if (!d) {
        d = { id, listed: false, senders: [] };
        byId.set(id, d);
      }
      return d;
    };
    for (const listed of this.config.audit?.distributions ?? []) {
      if (!inScope(this.scope, listed.id)) continue;
      const d = entry(listed.id);
      d.listed = true;
      d.expectedWebAclName = listed.webAclName;
    }
    for (const secret of this.config.secrets) {
      for (const sender of secret.senders) {
        if (sender.type !== 'cloudfront' || !inScope(this.scope, sender.distributionId, secret.name, secret.secretName)) continue;
        entry(sender.distributionId).senders.push({ secret: secret.name, headerName: secret.headerName, originIds: sender.originIds });
      }
    }
    if (byId.size === 0) return;
    const client = this.options.clients.cloudFront();
    const results = await Promise.all(
      [...byId.values()].map(async (d) => {
        const read = await this.attempt(d.id, 'GetDistribution', async () => {
          try {
            return await getDistributionView(client, d.id);
          } catch (error) {
            if (isNotFound(error)) return undefined;
            throw error;
          }
        });
        if (!read.ok) return undefined;
        const view = read.value;
        if (view) {
          d.distribution = {
            webAclId: view.webAclId ?? '',
            origins: view.origins.map((o) => ({
              id: o.id,
              domainName: o.domainName,
              ...(o.vpcOriginId ? { vpcOriginId: o.vpcOriginId } : {}),
              ...(o.kind === 'custom' ? { customOrigin: { protocolPolicy: o.protocolPolicy ?? '', sslProtocols: o.originSslProtocols } } : {}),
              headerFingerprints: Object.fromEntries(o.customHeaders.map((h) => [h.name.toLowerCase(), h.valueFingerprint])),
            })),
            behaviors: view.viewerProtocolPolicies.map((b) => ({ pathPattern: b.pathPattern, viewerProtocolPolicy: b.viewerProtocolPolicy })),
            settings: {
              loggingEnabled: view.loggingEnabled,
              ...(view.minimumViewerTlsVersion ? { minimumViewerTlsVersion: view.minimumViewerTlsVersion } : {}),
              usesDefaultCertificate: view.usesDefaultCertificate,
              s3Origins: view.origins
                .filter((o) => o.kind === 's3')
                .map((o) => ({
                  id: o.id,
                  ...(o.originAccessControlId ? { originAccessControlId: o.originAccessControlId } : {}),
                  ...(o.originAccessIdentity ? { originAccessIdentity: o.originAccessIdentity } : {}),
                })),
              vpcOrigins: view.origins.flatMap((o) => (o.vpcOriginId ? [{ id: o.id, vpcOriginId: o.vpcOriginId }] : [])),
            },
          };
        }
        return d;
      }),
    );
    this.observed.distributions.push(...results.filter((d): d is ObservedDistribution => d !== undefined));
  }

  // ---------- security groups ----------

  private async collectSecurityGroups(): Promise<void> {
    // A prefix-list target is named by its lists too (ModifyManagedPrefixList, RestoreManagedPrefixListVersion).
    const targets = (this.config.ipRanges?.targets ?? []).filter((t) => inScope(this.scope, ...t.securityGroupIds, ...(t.prefixListIds ?? [])));
    if (targets.length === 0) return;
    const groupIds = [...new Set(targets.flatMap((t) => t.securityGroupIds))];
    const resource = `security-groups:${groupIds.join(',')}`;
    // The dry runs read the groups themselves: started with the group read, not after it (each read is a round
    // trip to EC2, and an audit of many account-regions waits on them); their outcome counts only if the groups were read.
    const planned = targets.map((target) =>
      Promise.resolve()
        .then(() => this.previewReconcile(target))
        .then(
          (preview) => ({ ok: true as const, preview }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
    );
    const read = await this.attempt(groupIds.length === 1 ? groupIds[0] : resource, 'DescribeSecurityGroupRules', () => this.ingressRules(groupIds));
    if (!read.ok) {
      await Promise.all(planned);
      return;
    }
    const previews = await Promise.all(
      targets.map(async (target, i) => {
        const result = await this.attempt(`ipRanges:${target.name}`, 'planning the target (reconcile --dry-run)', async () => {
          const outcome = await planned[i]!;
          if (!outcome.ok) throw outcome.error;
          if (outcome.preview.status === 'failed') throw new Error(outcome.preview.error ?? 'reconcile dry run failed');
          return outcome.preview;
        });
        return result.ok ? result.value : undefined;
      }),
    );
    targets.forEach((target, i) => {
      this.observed.securityGroupTargets.push({
        target,
        groups: target.securityGroupIds.map((groupId) => ({ groupId, ingress: read.value.get(groupId) })),
        ...(previews[i] ? { desired: previews[i] } : {}),
      });
    });
  }

  private previewReconcile(target: IpRangeTargetConfig): Promise<TargetResult> {
    if (this.options.previewReconcile) return this.options.previewReconcile(target);
    const { clients } = this.options;
    // Reconcile's failure alerts belong to reconcile; here a failure is a read failure of the audit.
    const quiet: AlertPort = { publish: async () => {} };
    return reconcileTarget(
      target,
      { dryRun: true },
      {
        // Secrets Manager only for a source that reads a token (Konnect): most targets need no client for it.
        feeds: new HttpIpFeeds({ fetch: this.options.fetch, ...(target.sources.some((s) => s.type === 'konnect') ? { secretsManager: clients.secretsManager() } : {}) }),
        groups: new Ec2SecurityGroupStore(this.ec2ReadingRulesOnce(), { log: this.log }),
        alerts: quiet,
        clock: systemClock,
        log: this.log,
      },
    );
  }

  /** Ingress rules per existing group (a missing group has no entry). One filter with many values: moto keeps one filter per name. */
  private async ingressRules(groupIds: string[]): Promise<Map<string, ObservedIngressRule[]>> {
    const ec2 = this.ec2ReadingRulesOnce();
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }));
    const byGroup = new Map<string, ObservedIngressRule[]>((groups.SecurityGroups ?? []).map((g) => [g.GroupId ?? '', []]));
    if (byGroup.size === 0) return byGroup;
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const response = await ec2.send(
        new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [...byGroup.keys()] }], NextToken: nextToken, MaxResults: 1000 }),
      );
      for (const rule of response.SecurityGroupRules ?? []) {
        if (rule.IsEgress) continue;
        byGroup.get(rule.GroupId ?? '')?.push(toIngressRule(rule));
      }
      nextToken = response.NextToken || undefined;
      if (!nextToken) break;
    }
    // A rule referencing a prefix list counts as the list's MaxEntries against the quota.
    const rules = [...byGroup.values()].flat();
    const sizes = await prefixListSizes(ec2, rules.flatMap((r) => (r.prefixListId ? [r.prefixListId] : [])));
    for (const rule of rules) {
      const size = rule.prefixListId ? sizes.get(rule.prefixListId) : undefined;
      if (size !== undefined) rule.weight = size;
    }
    return byGroup;
  }

  // ---------- peering and transit gateways ----------

  private async routeTables(ids: string[], owner: string): Promise<Read<ObservedRouteTable[]>> {
    if (ids.length === 0) return { ok: true, value: [] };
    return this.attempt(owner, 'DescribeRouteTables', async () => {
      const response = await this.options.clients
        .ec2()
        .send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'route-table-id', Values: ids }] }));
      const found = new Map((response.RouteTables ?? []).map((t) => [t.RouteTableId ?? '', t]));
      return ids.map((id) => ({ id, routes: found.has(id) ? routesOf(found.get(id)!) : undefined }));
    });
  }

  private async collectPeerings(): Promise<void> {
    const peerings = (this.config.audit?.peerings ?? []).filter((p) => inScope(this.scope, p.id, ...p.routeTableIds));
    await Promise.all(
      peerings.map(async (config) => {
        const state = await this.attempt(config.id, 'DescribeVpcPeeringConnections', async () => {
          const response = await this.options.clients
            .ec2()
            .send(new DescribeVpcPeeringConnectionsCommand({ Filters: [{ Name: 'vpc-peering-connection-id', Values: [config.id] }] }));
          // Matched by id as well: moto ignores some describe filters.
          const peering = response.VpcPeeringConnections?.find((p) => p.VpcPeeringConnectionId === config.id);
          return {
            state: peering?.Status?.Code,
            dnsResolution: peering
              ? {
                  requester: peering.RequesterVpcInfo?.PeeringOptions?.AllowDnsResolutionFromRemoteVpc ?? false,
                  accepter: peering.AccepterVpcInfo?.PeeringOptions?.AllowDnsResolutionFromRemoteVpc ?? false,
                }
              : undefined,
          };
        });
        const tables = await this.routeTables(config.routeTableIds, config.id);
        if (!state.ok || !tables.ok) return;
        this.observed.peerings.push({
          config,
          state: state.value.state,
          ...(state.value.dnsResolution ? { dnsResolution: state.value.dnsResolution } : {}),
          routeTables: tables.value,
        });
      }),
    );
  }

  private async collectTransitGateways(): Promise<void> {
    const anyTransitGateway = this.scope?.identifiers.some((id) => /^tgw-[0-9a-f]+$/.test(id)) ?? false;
    const attachments = (this.config.audit?.transitGateways ?? []).filter(
      (t) => anyTransitGateway || inScope(this.scope, t.attachmentId, ...t.routeTableIds),
    );
    const ec2 = this.options.clients.ec2();
    await Promise.all(
      attachments.map(async (config) => {
        const read = await this.attempt(config.attachmentId, 'DescribeTransitGatewayAttachments', async () => {
          const response = await ec2.send(
            new DescribeTransitGatewayAttachmentsCommand({ Filters: [{ Name: 'transit-gateway-attachment-id', Values: [config.attachmentId] }] }),
          );
          // Matched by id as well: moto ignores this filter and lists every attachment.
          const attachment = response.TransitGatewayAttachments?.find((a) => a.TransitGatewayAttachmentId === config.attachmentId);
          if (!attachment) return undefined;
          const tgwId = attachment.TransitGatewayId ?? '';
          const tgws = await ec2.send(new DescribeTransitGatewaysCommand({ Filters: [{ Name: 'transit-gateway-id', Values: [tgwId] }] }));
          const tgw = tgws.TransitGateways?.find((t) => t.TransitGatewayId === tgwId);
          return {
            attachment: { state: attachment.State ?? 'unknown', transitGatewayId: tgwId },
            transitGateway: tgw ? { id: tgwId, autoAcceptSharedAttachments: tgw.Options?.AutoAcceptSharedAttachments ?? 'disable' } : undefined,
            tgwRouteTables: config.transitGatewayRouteTableIds ? await this.tgwRouteTablesOf(tgwId, config.attachmentId) : undefined,
          };
        });
        const tables = await this.routeTables(config.routeTableIds, config.attachmentId);
        if (!read.ok || !tables.ok) return;
        this.observed.transitGateways.push({
          config,
          ...(read.value?.attachment ? { attachment: read.value.attachment } : {}),
          ...(read.value?.transitGateway ? { transitGateway: read.value.transitGateway } : {}),
          ...(read.value?.tgwRouteTables ? { tgwRouteTables: read.value.tgwRouteTables } : {}),
          routeTables: tables.value,
        });
      }),
    );
  }

  /** Where an attachment is associated and what it propagates to, over the transit gateway's route tables. */
  private async tgwRouteTablesOf(transitGatewayId: string, attachmentId: string): Promise<{ associatedWith: string[]; propagatesTo: string[] }> {
    const ec2 = this.options.clients.ec2();
    const tables = await ec2.send(new DescribeTransitGatewayRouteTablesCommand({ Filters: [{ Name: 'transit-gateway-id', Values: [transitGatewayId] }] }));
    const ids = (tables.TransitGatewayRouteTables ?? []).filter((t) => t.TransitGatewayId === transitGatewayId).flatMap((t) => (t.TransitGatewayRouteTableId ? [t.TransitGatewayRouteTableId] : []));
    const associatedWith: string[] = [];
    const propagatesTo: string[] = [];
    for (const id of ids.slice(0, MAX_PAGES)) {
      const [associations, propagations] = await Promise.all([
        ec2.send(new GetTransitGatewayRouteTableAssociationsCommand({ TransitGatewayRouteTableId: id })),
        ec2.send(new GetTransitGatewayRouteTablePropagationsCommand({ TransitGatewayRouteTableId: id })),
      ]);
      if ((associations.Associations ?? []).some((a) => a.TransitGatewayAttachmentId === attachmentId && a.State !== 'disassociated')) associatedWith.push(id);
      if ((propagations.TransitGatewayRouteTablePropagations ?? []).some((p) => p.TransitGatewayAttachmentId === attachmentId && p.State !== 'disabled')) propagatesTo.push(id);
    }
    return { associatedWith, propagatesTo };
  }

  // ---------- secrets ----------

  private async collectSecrets(): Promise<void> {
    const needed = this.config.secrets.filter(
      (s) =>
        inScope(this.scope, s.name, s.secretName) ||
        s.validators.some((v) => v.type === 'wafv2' && inScope(this.scope, v.webAclName, v.webAclId)) ||
        s.senders.some((x) => x.type === 'cloudfront' && inScope(this.scope, x.distributionId)),
    );
    const client = this.options.clients.secretsManager();
    const results = await Promise.all(
      needed.map(async (secret): Promise<ObservedSecret | undefined> => {
        const store = new SecretsManagerStore(client, secret.secretName);
        const read = await this.attempt(secret.secretName, 'DescribeSecret', async () => {
          let description;
          try {
            description = await store.describe({ versionDates: true });
          } catch (error) {
            if (isNotFound(error)) return { description: undefined, fingerprints: {} };
            throw error;
          }
          const fingerprints: Record<string, string> = {};
          for (const versionId of acceptedVersionIds(rotationView(description))) {
            const value = await store.value({ versionId });
            if (value !== undefined) fingerprints[versionId] = fingerprint(value);
          }
          return { description, fingerprints };
        });
        if (!read.ok) return undefined;
        return {
          name: secret.name,
          secretName: secret.secretName,
          headerName: secret.headerName,
          rotationDays: secret.rotationDays,
          overlapMinutes: secret.overlapMinutes,
          ...read.value,
        };
      }),
    );
    this.observed.secrets.push(...results.filter((s): s is ObservedSecret => s !== undefined));
  }

  // ---------- Konnect ----------

  private async collectKonnect(): Promise<void> {
    const konnect = this.config.audit?.konnect;
    if (!konnect) return;
    const networkIds = konnect.networkIds.filter((id) => inScope(this.scope, id));
    if (networkIds.length === 0) return;
    const client = new KonnectClient({
      baseUrl: konnect.apiUrl ?? KONNECT_GLOBAL_API_URL,
      token: this.tokens().token(konnect.tokenSecretName),
      fetch: this.options.fetch,
    });
    await Promise.all(
      networkIds.map(async (networkId) => {
        const read = await this.attempt(`konnect:${networkId}`, 'Konnect GET network', async () => {
          const network = await client.getNetwork(networkId);
          const attachments = network ? await client.listTransitGateways(networkId) : [];
          return { network, attachments };
        });
        if (!read.ok) return;
        this.observed.konnectNetworks.push({
          networkId,
          ...(read.value.network ? { network: { name: read.value.network.name, state: read.value.network.state } } : {}),
          attachments: read.value.attachments.map((a) => ({ id: a.id, name: a.name, kind: a.kind ?? 'transit-gateway', state: a.state })),
        });
      }),
    );
  }

  // ---------- probes ----------

  private async collectProbes(): Promise<void> {
    // Probes prove the whole path; an event about one resource does not need them.
    if (this.scope) return;
    const wrongValue = this.options.wrongValue ?? (() => randomBytes(32).toString('base64url'));
    await Promise.all(
      (this.config.audit?.probes ?? []).map(async (probe) => {
        const port = this.options.probe ?? httpProbe({ timeoutMs: probe.timeoutMs });
        const [withoutHeader, wrong, throughCdn] = await Promise.all([
          port.request(probe.originUrl, {}),
          port.request(probe.originUrl, { [probe.headerName]: wrongValue() }),
          probe.cdnUrl ? port.request(probe.cdnUrl, {}) : Promise.resolve(undefined),
        ]);
        this.observed.probes.push({
          name: probe.name,
          ...(probe.expectedStatus !== undefined ? { expectedStatus: probe.expectedStatus } : {}),
          originUrl: probe.originUrl,
          ...(probe.cdnUrl ? { cdnUrl: probe.cdnUrl } : {}),
          headerName: probe.headerName,
          withoutHeader,
          wrongValue: wrong,
          ...(throughCdn ? { throughCdn } : {}),
        });
      }),
    );
  }

  // ---------- origins (attack paths) ----------

  private async collectOrigins(): Promise<void> {
    const origins = (this.config.audit?.origins ?? []).filter((o) =>
      inScope(this.scope, o.name, ...o.securityGroupIds, ...o.loadBalancerArns, ...o.networkInterfaceIds, ...(o.secret ? [o.secret] : [])),
    );
    await Promise.all(
      origins.map(async (config) => {
        const resource = `origin:${config.name}`;
        const read = await this.attempt(resource, 'DescribeLoadBalancers / DescribeNetworkInterfaces / DescribeSecurityGroupRules', async () => {
          const sources: Record<string, string[]> = {};
          const add = (groupId: string, source: string) => (sources[groupId] ??= []).includes(source) || sources[groupId].push(source);
          for (const id of config.securityGroupIds) add(id, 'listed');
          let internetFacing: boolean | undefined;
          if (config.loadBalancerArns.length > 0) {
            const { DescribeLoadBalancersCommand } = await elbv2Sdk(this.options.clients);
            const out = await this.options.clients.elbv2().send(new DescribeLoadBalancersCommand({ LoadBalancerArns: config.loadBalancerArns }));
            for (const lb of out.LoadBalancers ?? []) for (const id of lb.SecurityGroups ?? []) add(id, lb.LoadBalancerArn ?? 'load balancer');
            internetFacing = (out.LoadBalancers ?? []).some((lb) => lb.Scheme === 'internet-facing');
          }
          if (config.networkInterfaceIds.length > 0) {
            const out = await this.options.clients.ec2().send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: config.networkInterfaceIds }));
            for (const eni of out.NetworkInterfaces ?? []) for (const g of eni.Groups ?? []) if (g.GroupId) add(g.GroupId, eni.NetworkInterfaceId ?? 'network interface');
          }
          const ids = Object.keys(sources);
          const rules = ids.length > 0 ? await this.ingressRules(ids) : new Map<string, ObservedIngressRule[]>();
          const groups: ObservedSecurityGroup[] = ids.map((groupId) => ({ groupId, ingress: rules.get(groupId) }));
          const vpcOriginServiceGroupId = config.vpcOrigin && ids.length > 0 ? await this.vpcOriginServiceGroup(ids) : undefined;
          return { groups, sources, internetFacing, vpcOriginServiceGroupId };
        });
        if (!read.ok) return;
        const origin: ObservedAuditOrigin = {
          config,
          resource,
          groups: read.value.groups,
          groupSources: read.value.sources,
          headerCheck: await this.headerCheckOf(config.secret),
          ...(read.value.vpcOriginServiceGroupId ? { vpcOriginServiceGroupId: read.value.vpcOriginServiceGroupId } : {}),
          ...(read.value.internetFacing !== undefined ? { internetFacing: read.value.internetFacing } : {}),
        };
        this.observed.origins.push(origin);
      }),
    );
  }

  /** CloudFront's VPC-origins service group in the VPC of the origin's groups, if CloudFront created it. */
  private async vpcOriginServiceGroup(groupIds: string[]): Promise<string | undefined> {
    const ec2 = this.options.clients.ec2();
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }));
    const vpcIds = [...new Set((groups.SecurityGroups ?? []).flatMap((g) => (g.VpcId ? [g.VpcId] : [])))];
    if (vpcIds.length === 0) return undefined;
    const named = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [VPC_ORIGIN_SERVICE_GROUP_NAME] }, { Name: 'vpc-id', Values: vpcIds }] }));
    // Matched here too: moto ignores some describe filters.
    return named.SecurityGroups?.find((g) => g.GroupName === VPC_ORIGIN_SERVICE_GROUP_NAME && vpcIds.includes(g.VpcId ?? ''))?.GroupId;
  }

  /** Whether the secret's validators check the header: a WAF validator counts once its rule reads back as ours. */
  private async headerCheckOf(secretName: string | undefined): Promise<ObservedAuditOrigin['headerCheck']> {
    const secret = secretName ? this.config.secrets.find((s) => s.name === secretName) : undefined;
    if (!secret || secret.validators.length === 0) return 'none';
    if (secret.validators.some((v) => v.type !== 'wafv2')) return 'present';
    for (const validator of secret.validators) {
      if (validator.type !== 'wafv2') continue;
      const read = await this.webAcl({ scope: validator.scope, name: validator.webAclName, id: validator.webAclId });
      const rule = read.ok ? read.value?.Rules?.find((r) => r.Name === validator.ruleName) : undefined;
      if (rule && acceptedValuesOfRule(rule, secret.headerName) !== undefined) return 'present';
    }
    return 'broken';
  }

  /** Entries of the customer prefix lists the observed groups reference, and CloudFront's origin-facing list. */
  private async collectPrefixLists(): Promise<void> {
    const groups = [...this.observed.securityGroupTargets.flatMap((t) => t.groups), ...this.observed.origins.flatMap((o) => o.groups)];
    const referenced = [...new Set(groups.flatMap((g) => (g.ingress ?? []).flatMap((r) => (r.prefixListId ? [r.prefixListId] : []))))];
    if (this.observed.origins.length === 0 && referenced.length === 0) return;
    const ec2 = this.options.clients.ec2();
    const read = await this.attempt('prefix-lists', 'DescribeManagedPrefixLists / GetManagedPrefixListEntries', async () => {
      const lists = new Map<string, { name?: string; awsManaged: boolean }>();
      if (referenced.length > 0) {
        const out = await ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: referenced }));
        for (const l of out.PrefixLists ?? []) if (l.PrefixListId) lists.set(l.PrefixListId, { name: l.PrefixListName, awsManaged: l.OwnerId === 'AWS' });
      }
      let cloudFrontId: string | undefined;
      if (this.observed.origins.length > 0) {
        const out = await ec2.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: [CLOUDFRONT_PREFIX_LIST_NAME] }] }));
        const list = out.PrefixLists?.find((l) => l.PrefixListName === CLOUDFRONT_PREFIX_LIST_NAME);
        if (list?.PrefixListId) {
          cloudFrontId = list.PrefixListId;
          lists.set(list.PrefixListId, { name: list.PrefixListName, awsManaged: true });
        }
      }
      const result: ObservedAccount['prefixLists'] = {};
      for (const [id, meta] of lists) {
        // AWS-managed lists other than CloudFront's are not expanded: nobody outside AWS widens them.
        if (meta.awsManaged && id !== cloudFrontId) {
          result[id] = { ...meta, cidrs: [] };
          continue;
        }
        const cidrs: string[] = [];
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_PAGES; page += 1) {
          const out = await ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id, NextToken: nextToken }));
          for (const e of out.Entries ?? []) if (e.Cidr) cidrs.push(e.Cidr);
          nextToken = out.NextToken || undefined;
          if (!nextToken) break;
        }
        result[id] = { ...meta, cidrs };
      }
      return { result, cloudFrontId };
    });
    if (!read.ok) return;
    this.observed.prefixLists = read.value.result;
    if (read.value.cloudFrontId) this.observed.cloudFrontPrefixListId = read.value.cloudFrontId;
  }

  // ---------- origin-guard's own rules ----------

  private async collectWatchedRules(): Promise<void> {
    const names = this.options.watchedRules ?? [];
    // A CloudTrail event about one resource does not need them, unless it names one of them.
    if (names.length === 0 || (this.scope && !names.some((n) => inScope(this.scope, n)))) return;
    const { DescribeRuleCommand, ListTargetsByRuleCommand } = await eventBridgeSdk(this.options.clients);
    const client = this.options.clients.eventBridge();
    await Promise.all(
      names.map(async (name) => {
        const read = await this.attempt(`events:rule/${name}`, 'DescribeRule / ListTargetsByRule', async () => {
          let state: string | undefined;
          try {
            state = (await client.send(new DescribeRuleCommand({ Name: name }))).State;
          } catch (error) {
            if (isNotFound(error)) return { targets: 0 };
            throw error;
          }
          const targets = await client.send(new ListTargetsByRuleCommand({ Rule: name }));
          return { state, targets: targets.Targets?.length ?? 0 };
        });
        if (read.ok) this.observed.watchedRules.push({ name, ...read.value });
      }),
    );
  }
}

function toIngressRule(rule: SecurityGroupRule): ObservedIngressRule {
  return {
    ruleId: rule.SecurityGroupRuleId ?? '',
    protocol: rule.IpProtocol ?? '-1',
    ...(rule.FromPort !== undefined ? { fromPort: rule.FromPort } : {}),
    ...(rule.ToPort !== undefined ? { toPort: rule.ToPort } : {}),
    ...(rule.CidrIpv4 ? { cidrIpv4: rule.CidrIpv4 } : {}),
    ...(rule.CidrIpv6 ? { cidrIpv6: rule.CidrIpv6 } : {}),
    ...(rule.PrefixListId ? { prefixListId: rule.PrefixListId } : {}),
    ...(rule.ReferencedGroupInfo?.GroupId ? { referencedGroupId: rule.ReferencedGroupInfo.GroupId } : {}),
    ...(rule.Description ? { description: rule.Description } : {}),
  };
}

function routesOf(table: RouteTable) {
  return (table.Routes ?? []).map((route) => ({
    destination: route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId ?? '',
    ...(route.VpcPeeringConnectionId ? { vpcPeeringConnectionId: route.VpcPeeringConnectionId } : {}),
    ...(route.TransitGatewayId ? { transitGatewayId: route.TransitGatewayId } : {}),
    ...(route.State ? { state: route.State } : {}),
  }));
}
