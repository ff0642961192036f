import type { Rule } from '@aws-sdk/client-wafv2';
import { describe, expect, it } from 'vitest';
import { IpRangeTargetSchema } from '../../lambdas/config.ts';
import { emptyObservedAccount, SWAPPED_WEB_ACL, type AuditCheck, type ObservedAccount } from '../../lambdas/core/audit-model.ts';
import * as checks from '../../lambdas/core/checks/index.ts';
import { ALL_CHECKS, runChecks } from '../../lambdas/core/checks/index.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { TAG, type SecretDescription } from '../../lambdas/core/ports.ts';
import { buildOriginVerifyRule } from '../../lambdas/core/waf-rule.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);
const daysAgo = (d: number) => minutesAgo(d * 1440);

const ACL_ARN = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/gateway-acl/a1';
const ALB_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/alb/123';
const CURRENT = 'current-secret-value-0123456789';
const PREVIOUS = 'previous-secret-value-012345678';

const managedRule = (name: string, count = false): Rule => ({
  Name: name,
  Priority: 10,
  Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: name } },
  OverrideAction: count ? { Count: {} } : { None: {} },
  VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: name },
});
const rateRule = (action: Rule['Action']): Rule => ({
  Name: 'rate',
  Priority: 20,
  Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
  Action: action,
  VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'rate' },
});

function secretDescription(overrides: Partial<SecretDescription> = {}): SecretDescription {
  return {
    arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:origin-verify-AbCdEf',
    name: 'origin-verify',
    versions: [
      { versionId: 'v2', stages: ['AWSCURRENT'], createdAt: daysAgo(3) },
      { versionId: 'v1', stages: ['AWSPREVIOUS'], createdAt: daysAgo(33) },
    ],
    tags: {},
    rotationEnabled: true,
    rotationDays: 30,
    lastRotatedAt: daysAgo(3),
    ...overrides,
  };
}

/** An account where every check passes. */
function compliantAccount(): ObservedAccount {
  const observed = emptyObservedAccount();
  const target = IpRangeTargetSchema.parse({
    name: 'alb',
    securityGroupIds: ['sg-0a1b2c3d'],
    ports: [443],
    sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }],
  });
  observed.webAcls.push({
    config: {
      scope: 'REGIONAL',
      name: 'gateway-acl',
      id: 'a1',
      resourceArns: [ALB_ARN],
      requiredManagedRuleGroups: ['AWSManagedRulesCommonRuleSet'],
      requireRateRule: true,
      requireLogging: true,
    },
    resource: 'wafv2:REGIONAL/gateway-acl',
    webAcl: {
      arn: ACL_ARN,
      rules: [
        buildOriginVerifyRule({ ruleName: 'origin-verify', priority: 5, headerName: 'X-Origin-Verify', values: [CURRENT] }),
        managedRule('AWSManagedRulesCommonRuleSet'),
        rateRule({ Block: {} }),
      ],
      defaultAction: 'ALLOW',
      visibility: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'gateway-acl' },
    },
    loggingEnabled: true,
    redactedHeaders: ['x-origin-verify'],
    secretHeaders: ['x-origin-verify'],
    associations: [{ resourceArn: ALB_ARN, webAclArn: ACL_ARN }],
  });
  observed.secrets.push({
    name: 'cdn-to-gateway',
    secretName: 'origin-verify',
    headerName: 'X-Origin-Verify',
    rotationDays: 30,
    overlapMinutes: 30,
    description: secretDescription(),
    fingerprints: { v2: fingerprint(CURRENT), v1: fingerprint(PREVIOUS) },
  });
  observed.originVerifyRules.push({
    secret: 'cdn-to-gateway',
    resource: 'wafv2:REGIONAL/gateway-acl/origin-verify',
    headerName: 'X-Origin-Verify',
    state: 'ok',
    acceptedFingerprints: [fingerprint(CURRENT)],
  });
  observed.distributions.push({
    id: 'E2EXAMPLE',
    listed: true,
    expectedWebAclName: 'cdn-acl',
    senders: [{ secret: 'cdn-to-gateway', headerName: 'X-Origin-Verify' }],
    distribution: {
      webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/cdn-acl/c1',
      origins: [
        {
          id: 'alb',
          domainName: 'alb.example.com',
          customOrigin: { protocolPolicy: 'https-only', sslProtocols: ['TLSv1.2'] },
          headerFingerprints: { 'x-origin-verify': fingerprint(CURRENT) },
        },
      ],
      behaviors: [
        { pathPattern: '*', viewerProtocolPolicy: 'redirect-to-https' },
        { pathPattern: '/api/*', viewerProtocolPolicy: 'https-only' },
      ],
      settings: {
        loggingEnabled: true,
        minimumViewerTlsVersion: 'TLSv1.2_2021',
        usesDefaultCertificate: false,
        s3Origins: [{ id: 'assets', originAccessControlId: 'E1OAC' }],
        vpcOrigins: [],
      },
    },
  });
  observed.securityGroupTargets.push({
    target,
    groups: [
      {
        groupId: 'sg-0a1b2c3d',
        ingress: [{ ruleId: 'sgr-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '203.0.113.0/24', description: 'origin-guard:alb:static' }],
      },
    ],
    desired: { status: 'in-sync', held: false, notes: [], groups: [{ groupId: 'sg-0a1b2c3d', add: [], remove: [], rulesAfter: 1, rulesBefore: 1 }] },
  });
  observed.peerings.push({
    config: { id: 'pcx-0a1b2c3d', routeTableIds: ['rtb-0a1b2c3d'], allowedCidrs: ['192.168.0.0/16'] },
    state: 'active',
    dnsResolution: { requester: false, accepter: false },
    routeTables: [
      {
        id: 'rtb-0a1b2c3d',
        routes: [
          { destination: '10.0.0.0/16', state: 'active' },
          { destination: '192.168.10.0/24', vpcPeeringConnectionId: 'pcx-0a1b2c3d', state: 'active' },
        ],
      },
    ],
  });
  observed.transitGateways.push({
    config: { attachmentId: 'tgw-attach-0a1b2c3d', routeTableIds: ['rtb-0e1f2a3b'], allowedCidrs: ['10.10.0.0/16'], transitGatewayRouteTableIds: ['tgw-rtb-0a1b2c3d'] },
    attachment: { state: 'available', transitGatewayId: 'tgw-0a1b2c3d' },
    tgwRouteTables: { associatedWith: ['tgw-rtb-0a1b2c3d'], propagatesTo: ['tgw-rtb-0a1b2c3d'] },
    transitGateway: { id: 'tgw-0a1b2c3d', autoAcceptSharedAttachments: 'disable' },
    routeTables: [{ id: 'rtb-0e1f2a3b', routes: [{ destination: '10.10.0.0/16', transitGatewayId: 'tgw-0a1b2c3d', state: 'active' }] }],
  });
  observed.konnectNetworks.push({
    networkId: 'net-1',
    network: { name: 'prod', state: 'ready' },
    attachments: [{ id: 'tg-1', name: 'to-aws', kind: 'aws-transit-gateway-attachment', state: 'ready' }],
  });
  observed.probes.push({
    name: 'api',
    originUrl: 'https://origin.example.com/',
    cdnUrl: 'https://cdn.example.com/',
    headerName: 'X-Origin-Verify',
    withoutHeader: { status: 403 },
    wrongValue: { status: 403 },
    throughCdn: { status: 200 },
  });
  observed.origins.push({
    config: { name: 'gateway', securityGroupIds: ['sg-0e0e0e0e'], loadBalancerArns: [ALB_ARN], networkInterfaceIds: [], ports: [443], protocol: 'tcp', secret: 'cdn-to-gateway', vpcOrigin: false },
    resource: 'origin:gateway',
    groups: [{ groupId: 'sg-0e0e0e0e', ingress: [{ ruleId: 'sgr-cf', protocol: 'tcp', fromPort: 443, toPort: 443, prefixListId: 'pl-cf' }] }],
    groupSources: { 'sg-0e0e0e0e': ['listed'] },
    headerCheck: 'present',
    internetFacing: false,
  });
  observed.origins.push({
    config: { name: 'private', securityGroupIds: ['sg-0f0f0f0f'], loadBalancerArns: [], networkInterfaceIds: [], ports: [443], protocol: 'tcp', vpcOrigin: true },
    resource: 'origin:private',
    groups: [{ groupId: 'sg-0f0f0f0f', ingress: [{ ruleId: 'sgr-vo', protocol: 'tcp', fromPort: 443, toPort: 443, referencedGroupId: 'sg-0c0c0c0c' }] }],
    groupSources: { 'sg-0f0f0f0f': ['listed'] },
    headerCheck: 'none',
    vpcOriginServiceGroupId: 'sg-0c0c0c0c',
  });
  observed.prefixLists = { 'pl-cf': { name: 'com.amazonaws.global.cloudfront.origin-facing', awsManaged: true, cidrs: ['130.176.0.0/18', '2600:9000:2000::/36'] } };
  observed.cloudFrontPrefixListId = 'pl-cf';
  observed.watchedRules.push({ name: 'origin-guard-audit-schedule', state: 'ENABLED', targets: 1 });
  observed.readResources.push('wafv2:REGIONAL/gateway-acl');
  return observed;
}

type Case = { check: AuditCheck; breaks: string; change: (o: ObservedAccount) => void; failingId: string };

const cases: Case[] = [
  { check: checks.wafExists, breaks: 'the web ACL is gone', change: (o) => delete o.webAcls[0].webAcl, failingId: 'waf.exists:wafv2:REGIONAL/gateway-acl' },
  { check: checks.wafAssociated, breaks: 'the load balancer has no web ACL', change: (o) => (o.webAcls[0].associations[0].webAclArn = undefined), failingId: `waf.associated:${ALB_ARN}` },
  {
    check: checks.wafManagedRules,
    breaks: 'the common rule set only counts',
    change: (o) => (o.webAcls[0].webAcl!.rules[1] = managedRule('AWSManagedRulesCommonRuleSet', true)),
    failingId: 'waf.managed-rules:wafv2:REGIONAL/gateway-acl',
  },
  { check: checks.wafRateRule, breaks: 'the rate rule is deleted', change: (o) => o.webAcls[0].webAcl!.rules.pop(), failingId: 'waf.rate-rule:wafv2:REGIONAL/gateway-acl' },
  { check: checks.wafLogRedaction, breaks: 'the logs carry the secret header', change: (o) => (o.webAcls[0].redactedHeaders = ['authorization']), failingId: 'waf.log-redaction:wafv2:REGIONAL/gateway-acl' },
  { check: checks.wafLogging, breaks: 'logging is off', change: (o) => (o.webAcls[0].loggingEnabled = false), failingId: 'waf.logging:wafv2:REGIONAL/gateway-acl' },
  {
    check: checks.wafOriginVerify,
    breaks: 'the rule still accepts the previous value after retire',
    change: (o) => o.originVerifyRules[0].acceptedFingerprints.push(fingerprint(PREVIOUS)),
    failingId: 'waf.origin-verify:wafv2:REGIONAL/gateway-acl/origin-verify',
  },
  {
    check: checks.cloudFrontWebAcl,
    breaks: 'the distribution lost its web ACL',
    change: (o) => (o.distributions[0].distribution!.webAclId = ''),
    failingId: 'cloudfront.web-acl:E2EXAMPLE',
  },
  {
    check: checks.cloudFrontOriginTls,
    breaks: 'the origin allows plain HTTP',
    change: (o) => (o.distributions[0].distribution!.origins[0].customOrigin!.protocolPolicy = 'match-viewer'),
    failingId: 'cloudfront.origin-tls:E2EXAMPLE',
  },
  {
    check: checks.cloudFrontOriginSecret,
    breaks: 'the origin sends another header value',
    change: (o) => (o.distributions[0].distribution!.origins[0].headerFingerprints['x-origin-verify'] = fingerprint('hand-typed')),
    failingId: 'cloudfront.origin-secret:E2EXAMPLE/cdn-to-gateway',
  },
  {
    check: checks.cloudFrontViewerProtocol,
    breaks: 'a behaviour allows plain HTTP',
    change: (o) => (o.distributions[0].distribution!.behaviors[1].viewerProtocolPolicy = 'allow-all'),
    failingId: 'cloudfront.viewer-protocol:E2EXAMPLE',
  },
  {
    check: checks.securityGroupOwnedRules,
    breaks: 'an owned rule was revoked by hand',
    change: (o) =>
      (o.securityGroupTargets[0].desired = {
        status: 'changes',
        held: false,
        notes: [],
        groups: [{ groupId: 'sg-0a1b2c3d', add: [{ cidr: '203.0.113.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, source: 'static' }], remove: [], rulesAfter: 1, rulesBefore: 0 }],
      }),
    failingId: 'sg.owned-rules:sg-0a1b2c3d/alb',
  },
  {
    check: checks.securityGroupOpenIngress,
    breaks: '0.0.0.0/0 is open on 443',
    change: (o) => o.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-open', protocol: 'tcp', fromPort: 0, toPort: 65535, cidrIpv4: '0.0.0.0/0' }),
    failingId: 'sg.open-ingress:sg-0a1b2c3d',
  },
  {
    check: checks.securityGroupQuota,
    breaks: 'the group is nearly full',
    change: (o) => {
      const ingress = o.securityGroupTargets[0].groups[0].ingress!;
      for (let i = 0; i < 57; i += 1) ingress.push({ ruleId: `sgr-x${i}`, protocol: 'tcp', fromPort: 8443, toPort: 8443, cidrIpv4: `198.51.100.${i}/32` });
    },
    failingId: 'sg.quota:sg-0a1b2c3d',
  },
  { check: checks.peeringActive, breaks: 'the peering was deleted', change: (o) => (o.peerings[0].state = 'deleted'), failingId: 'peering.active:pcx-0a1b2c3d' },
  {
    check: checks.peeringRoutes,
    breaks: 'a default route goes through the peering',
    change: (o) => o.peerings[0].routeTables[0].routes!.push({ destination: '0.0.0.0/0', vpcPeeringConnectionId: 'pcx-0a1b2c3d', state: 'active' }),
    failingId: 'peering.routes:pcx-0a1b2c3d/rtb-0a1b2c3d',
  },
  {
    check: checks.transitGatewayAttachment,
    breaks: 'the attachment is deleting',
    change: (o) => (o.transitGateways[0].attachment!.state = 'deleting'),
    failingId: 'tgw.attachment:tgw-attach-0a1b2c3d',
  },
  {
    check: checks.transitGatewayAutoAccept,
    breaks: 'auto-accept is on',
    change: (o) => (o.transitGateways[0].transitGateway!.autoAcceptSharedAttachments = 'enable'),
    failingId: 'tgw.auto-accept:tgw-0a1b2c3d',
  },
  {
    check: checks.transitGatewayRoutes,
    breaks: 'a broader CIDR goes through the transit gateway',
    change: (o) => (o.transitGateways[0].routeTables[0].routes![0].destination = '10.0.0.0/8'),
    failingId: 'tgw.routes:tgw-attach-0a1b2c3d/rtb-0e1f2a3b',
  },
  {
    check: checks.transitGatewayRouteTables,
    breaks: 'the attachment also propagates to another TGW route table',
    change: (o) => o.transitGateways[0].tgwRouteTables!.propagatesTo.push('tgw-rtb-0f0f0f0f'),
    failingId: 'tgw.route-tables:tgw-attach-0a1b2c3d',
  },
  {
    check: checks.secretRotationEnabled,
    breaks: 'rotation is disabled',
    change: (o) => (o.secrets[0].description!.rotationEnabled = false),
    failingId: 'secret.rotation-enabled:origin-verify',
  },
  {
    check: checks.secretRotationAge,
    breaks: 'the last rotation is 40 days old',
    change: (o) => (o.secrets[0].description!.lastRotatedAt = daysAgo(40)),
    failingId: 'secret.rotation-age:origin-verify',
  },
  {
    check: checks.secretPendingStuck,
    breaks: 'AWSPENDING is two hours old',
    change: (o) => o.secrets[0].description!.versions.push({ versionId: 'v3', stages: ['AWSPENDING'], createdAt: minutesAgo(120) }),
    failingId: 'secret.pending-stuck:origin-verify',
  },
  {
    check: checks.secretOverlapWindow,
    breaks: 'the overlap has been open for two hours',
    change: (o) => {
      o.secrets[0].description!.tags = { [TAG.OVERLAP_OPENED_AT]: minutesAgo(120).toISOString(), [TAG.OVERLAP_VERSION]: 'v1' };
      o.originVerifyRules[0].acceptedFingerprints.push(fingerprint(PREVIOUS));
    },
    failingId: 'secret.overlap-window:origin-verify',
  },
  { check: checks.konnectNetwork, breaks: 'the network is offline', change: (o) => (o.konnectNetworks[0].network!.state = 'offline'), failingId: 'konnect.network:konnect:net-1' },
  {
    check: checks.konnectAttachments,
    breaks: 'the attachment awaits acceptance',
    change: (o) => (o.konnectNetworks[0].attachments[0].state = 'pending-acceptance'),
    failingId: 'konnect.attachment:konnect:net-1/tg-1',
  },
  {
    check: checks.probeOriginWithoutHeader,
    breaks: 'the origin serves requests without the header',
    change: (o) => (o.probes[0].withoutHeader = { status: 200 }),
    failingId: 'probe.origin-without-header:probe:api',
  },
  {
    check: checks.probeOriginWrongValue,
    breaks: 'the origin serves a wrong value',
    change: (o) => (o.probes[0].wrongValue = { status: 200 }),
    failingId: 'probe.origin-wrong-value:probe:api',
  },
  { check: checks.probeThroughCdn, breaks: 'the CDN is refused', change: (o) => (o.probes[0].throughCdn = { status: 403 }), failingId: 'probe.through-cdn:probe:api' },
  {
    check: checks.wafRulesBeforeOriginVerify,
    breaks: 'a monitoring IP set is allowed ahead of the origin-verify rule',
    change: (o) =>
      o.webAcls[0].webAcl!.rules.push({
        Name: 'monitoring',
        Priority: 1,
        Statement: { IPSetReferenceStatement: { ARN: 'arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/monitoring/m1' } },
        Action: { Allow: {} },
        VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: 'monitoring' },
      }),
    failingId: 'waf.rules-before-origin-verify:wafv2:REGIONAL/gateway-acl/origin-verify',
  },
  {
    check: checks.wafDefaultAction,
    breaks: 'the web ACL allows by default and no rule blocks',
    change: (o) => (o.webAcls[0].webAcl!.rules = [managedRule('AWSManagedRulesCommonRuleSet', true)]),
    failingId: 'waf.default-action:wafv2:REGIONAL/gateway-acl',
  },
  {
    check: checks.wafRuleMetrics,
    breaks: 'a rule publishes no metrics',
    change: (o) => (o.webAcls[0].webAcl!.rules[2].VisibilityConfig!.CloudWatchMetricsEnabled = false),
    failingId: 'waf.rule-metrics:wafv2:REGIONAL/gateway-acl',
  },
  {
    check: checks.cloudFrontViewerTls,
    breaks: 'viewers may use TLS 1.0',
    change: (o) => (o.distributions[0].distribution!.settings!.minimumViewerTlsVersion = 'TLSv1'),
    failingId: 'cloudfront.viewer-tls:E2EXAMPLE',
  },
  {
    check: checks.cloudFrontLogging,
    breaks: 'access logging is off',
    change: (o) => (o.distributions[0].distribution!.settings!.loggingEnabled = false),
    failingId: 'cloudfront.logging:E2EXAMPLE',
  },
  {
    check: checks.cloudFrontS3Oac,
    breaks: 'an S3 origin has no origin access control',
    change: (o) => (o.distributions[0].distribution!.settings!.s3Origins = [{ id: 'assets' }]),
    failingId: 'cloudfront.s3-oac:E2EXAMPLE',
  },
  {
    check: checks.originAnyDistribution,
    breaks: 'the origin admits CloudFront and nothing checks the header',
    change: (o) => (o.origins[0].headerCheck = 'none'),
    failingId: 'origin.any-distribution:origin:gateway',
  },
  {
    check: checks.originVpcOriginGroup,
    breaks: 'the VPC origin also admits a CIDR on its port',
    change: (o) => o.origins[1].groups[0].ingress!.push({ ruleId: 'sgr-wide', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '10.0.0.0/8' }),
    failingId: 'origin.vpc-origin-group:origin:private',
  },
  {
    check: checks.originVpcOriginCandidate,
    breaks: 'the load balancer only CloudFront reaches is internet-facing',
    change: (o) => (o.origins[0].internetFacing = true),
    failingId: 'origin.vpc-origin-candidate:origin:gateway',
  },
  {
    check: checks.securityGroupBroadIngress,
    breaks: '0.0.0.0/1 is open on 443',
    change: (o) => o.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-half', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/1' }),
    failingId: 'sg.broad-ingress:sg-0a1b2c3d',
  },
  {
    check: checks.securityGroupAdminPorts,
    breaks: 'SSH is open to the world',
    change: (o) => o.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-ssh', protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' }),
    failingId: 'sg.admin-ports:sg-0a1b2c3d',
  },
  {
    check: checks.peeringDnsResolution,
    breaks: 'the accepter resolves private DNS across',
    change: (o) => (o.peerings[0].dnsResolution = { requester: false, accepter: true }),
    failingId: 'peering.dns-resolution:pcx-0a1b2c3d',
  },
  {
    check: checks.watchRules,
    breaks: "origin-guard's schedule rule is disabled",
    change: (o) => (o.watchedRules[0].state = 'DISABLED'),
    failingId: 'watch.rules:events:rule/origin-guard-audit-schedule',
  },
  {
    check: checks.auditReadFailures,
    breaks: 'a read was denied',
    change: (o) => o.readFailures.push({ resource: 'wafv2:REGIONAL/gateway-acl', what: 'GetWebACL', error: 'AccessDeniedException' }),
    failingId: 'audit.read:wafv2:REGIONAL/gateway-acl',
  },
];

describe('attack paths', () => {
  it('sees broad ranges hidden in a customer prefix list, IPv4 and IPv6', () => {
    const observed = compliantAccount();
    observed.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-pl', protocol: 'tcp', fromPort: 443, toPort: 443, prefixListId: 'pl-mine' });
    observed.prefixLists['pl-mine'] = { name: 'partners', awsManaged: false, cidrs: ['198.51.100.0/24', '2000::/3'] };

    const [finding] = checks.securityGroupBroadIngress.run(observed, NOW).filter((f) => f.resource === 'sg-0a1b2c3d');

    expect(finding.status).toBe('FAIL');
    expect(finding.details).toMatchObject({ cidrs: ['2000::/3'], ruleIds: ['sgr-pl'] });
  });

  it('accepts a CIDR at or under the configured share and flags one above it', () => {
    const observed = compliantAccount();
    observed.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-10', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '10.0.0.0/10' });
    expect(checks.securityGroupBroadIngress.run(observed, NOW).every((f) => f.status === 'PASS')).toBe(true);

    observed.settings = { ...observed.settings, broadIngressShare: 0.0001 };
    expect(checks.securityGroupBroadIngress.run(observed, NOW).find((f) => f.resource === 'sg-0a1b2c3d')?.status).toBe('FAIL');
  });

  it('reports an origin admitting CloudFront CIDRs (not the list) whose WAF rule was edited', () => {
    const observed = compliantAccount();
    observed.origins[0].groups[0].ingress = [{ ruleId: 'sgr-cidr', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '130.176.16.0/24' }];
    observed.origins[0].headerCheck = 'broken';

    const [finding] = checks.originAnyDistribution.run(observed, NOW);

    expect(finding.status).toBe('FAIL');
    expect(finding.message).toContain('130.176.16.0/24');
  });

  it('passes an origin that admits no CloudFront range even without a header check', () => {
    const observed = compliantAccount();
    observed.origins[0].groups[0].ingress = [{ ruleId: 'sgr-vpn', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '10.1.0.0/16' }];
    observed.origins[0].headerCheck = 'none';

    expect(checks.originAnyDistribution.run(observed, NOW)[0].status).toBe('PASS');
  });

  it('does not hold a VPC origin to the custom-origin TLS rule', () => {
    const observed = compliantAccount();
    observed.distributions[0].distribution!.origins.push({ id: 'private-alb', domainName: 'internal-alb', vpcOriginId: 'vo_123', headerFingerprints: {} });
    observed.distributions[0].senders = [];

    expect(checks.cloudFrontOriginTls.run(observed, NOW)[0].status).toBe('PASS');
  });
});

describe('waf.managed-rules weakened', () => {
  it('flags a required group whose rules are overridden to Count or excluded', () => {
    const observed = compliantAccount();
    const weakened = managedRule('AWSManagedRulesCommonRuleSet');
    weakened.Statement!.ManagedRuleGroupStatement!.RuleActionOverrides = [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }];
    weakened.Statement!.ManagedRuleGroupStatement!.ExcludedRules = [{ Name: 'CrossSiteScripting_BODY' }];
    observed.webAcls[0].webAcl!.rules[1] = weakened;

    const [finding] = checks.wafManagedRules.run(observed, NOW);

    expect(finding.status).toBe('FAIL');
    expect(finding.details).toMatchObject({ weakened: ['AWSManagedRulesCommonRuleSet (SizeRestrictions_BODY, CrossSiteScripting_BODY)'] });
  });
});

describe('waf.associated with a swapped web ACL', () => {
  it('reports a web ACL origin-guard may not read as a swap', () => {
    const observed = compliantAccount();
    observed.webAcls[0].associations[0].webAclArn = SWAPPED_WEB_ACL;

    const [finding] = checks.wafAssociated.run(observed, NOW);

    expect(finding).toMatchObject({ status: 'FAIL', severity: 'HIGH' });
    expect(finding.message).toContain('another web ACL');
  });
});

describe('probes', () => {
  it('reports a timeout or DNS failure as INCONCLUSIVE, never PASS', () => {
    const observed = compliantAccount();
    observed.probes[0].withoutHeader = { error: 'ETIMEDOUT' };
    observed.probes[0].wrongValue = { error: 'ENOTFOUND origin.example.com' };
    observed.probes[0].throughCdn = { error: 'ETIMEDOUT' };

    const findings = runChecks(observed, NOW).filter((f) => f.checkId.startsWith('probe.'));

    expect(findings.map((f) => f.status)).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE', 'INCONCLUSIVE']);
  });

  it('takes the expected status of the probe as the refusal (Kong answers 404)', () => {
    const observed = compliantAccount();
    observed.probes[0].expectedStatus = 404;
    observed.probes[0].withoutHeader = { status: 404 };
    observed.probes[0].wrongValue = { status: 403 };

    const [withoutHeader] = checks.probeOriginWithoutHeader.run(observed, NOW);
    const [wrongValue] = checks.probeOriginWrongValue.run(observed, NOW);

    expect(withoutHeader.status).toBe('PASS');
    expect(wrongValue.status).toBe('FAIL');
  });
});

describe('sg.quota with prefix-list references', () => {
  it('counts a rule referencing a prefix list as the list\'s MaxEntries', () => {
    const observed = compliantAccount();
    observed.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-pl', protocol: 'tcp', fromPort: 443, toPort: 443, prefixListId: 'pl-3b927c52', weight: 55 });

    const [finding] = checks.securityGroupQuota.run(observed, NOW);

    expect(finding.status).toBe('FAIL');
    expect(finding.details).toMatchObject({ used: expect.any(Number), quota: 60 });
    expect((finding.details as { used: number }).used).toBeGreaterThanOrEqual(56);
  });
});

describe('audit checks', () => {
  it('has a compliant and a non-compliant case for every check', () => {
    expect(new Set(cases.map((c) => c.check.id))).toEqual(new Set(ALL_CHECKS.map((c) => c.id)));
  });

  describe.each(cases)('$check.id', ({ check, breaks, change, failingId }) => {
    it('passes on a compliant account', () => {
      const findings = check.run(compliantAccount(), NOW);

      expect(findings.length).toBeGreaterThan(0);
      expect(findings.filter((f) => f.status === 'FAIL')).toEqual([]);
    });

    it(`fails when ${breaks}`, () => {
      const observed = compliantAccount();
      change(observed);

      const failed = check.run(observed, NOW).filter((f) => f.status === 'FAIL');

      expect(failed.map((f) => f.id)).toEqual([failingId]);
      expect(failed[0]).toMatchObject({ checkId: check.id, severity: check.severity, id: `${check.id}:${failed[0].resource}` });
      expect(failed[0].message.length).toBeGreaterThan(10);
      expect(failed[0].remediation).not.toBe('None.');
    });
  });

  it('passes every check on the compliant account together', () => {
    const findings = runChecks(compliantAccount(), NOW);

    expect(findings.filter((f) => f.status === 'FAIL')).toEqual([]);
    expect(new Set(findings.map((f) => f.checkId)).size).toBe(ALL_CHECKS.length);
  });

  it('names no secret value in any finding, only fingerprints', () => {
    const findings = cases.flatMap((c) => {
      const observed = compliantAccount();
      c.change(observed);
      return runChecks(observed, NOW);
    });

    const text = JSON.stringify(findings);

    expect(text).not.toContain(CURRENT);
    expect(text).not.toContain(PREVIOUS);
    expect(text).toContain(fingerprint(CURRENT));
  });

  describe('origin-verify rule and rotation state', () => {
    it('accepts current and pending once the validators were widened during a rotation', () => {
      const observed = compliantAccount();
      const secret = observed.secrets[0];
      secret.description!.versions.push({ versionId: 'v3', stages: ['AWSPENDING'], createdAt: minutesAgo(1) });
      secret.description!.tags = { [TAG.VALIDATORS_SET_AT]: minutesAgo(1).toISOString() };
      secret.fingerprints.v3 = fingerprint('pending-value');
      observed.originVerifyRules[0].acceptedFingerprints = [fingerprint(CURRENT), fingerprint('pending-value')];

      expect(checks.wafOriginVerify.run(observed, NOW)[0].status).toBe('PASS');
    });

    it('fails when the pending value was never added after setSecret', () => {
      const observed = compliantAccount();
      const secret = observed.secrets[0];
      secret.description!.versions.push({ versionId: 'v3', stages: ['AWSPENDING'], createdAt: minutesAgo(1) });
      secret.description!.tags = { [TAG.VALIDATORS_SET_AT]: minutesAgo(1).toISOString() };
      secret.fingerprints.v3 = fingerprint('pending-value');

      const [finding] = checks.wafOriginVerify.run(observed, NOW);

      expect(finding.status).toBe('FAIL');
      expect(finding.message).toContain(`${fingerprint('pending-value')} (pending)`);
    });

    it('flags a hand-edited rule', () => {
      const observed = compliantAccount();
      observed.originVerifyRules[0].state = 'unrecognised';

      expect(checks.wafOriginVerify.run(observed, NOW)[0].status).toBe('FAIL');
    });

    it('reads the rule the rotation writes', () => {
      // The shape the collector fingerprints is the one buildOriginVerifyRule makes.
      const rule = buildOriginVerifyRule({ ruleName: 'origin-verify', priority: 0, headerName: 'X-Origin-Verify', values: [CURRENT] });
      expect(rule.Action).toEqual({ Block: {} });
    });
  });

  describe('routes', () => {
    it('accepts a route narrower than the allowed CIDR and refuses a prefix list through the peering', () => {
      const observed = compliantAccount();
      observed.peerings[0].routeTables[0].routes!.push({ destination: 'pl-0123abcd', vpcPeeringConnectionId: 'pcx-0a1b2c3d' });

      const [finding] = checks.peeringRoutes.run(observed, NOW);

      expect(finding.status).toBe('FAIL');
      expect(finding.message).toContain('pl-0123abcd');
    });

    it('flags a listed route table that no longer routes through the peering', () => {
      const observed = compliantAccount();
      observed.peerings[0].routeTables[0].routes = [{ destination: '10.0.0.0/16' }];

      expect(checks.peeringRoutes.run(observed, NOW)[0].message).toContain('no route goes through');
    });
  });

  it('does not count IPv6 ::/0 on another port as open ingress', () => {
    const observed = compliantAccount();
    observed.securityGroupTargets[0].groups[0].ingress!.push({ ruleId: 'sgr-ssh', protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv6: '::/0' });

    expect(checks.securityGroupOpenIngress.run(observed, NOW)[0].status).toBe('PASS');
  });

  it('checks a group shared by two targets once, against the ports of both', () => {
    const observed = compliantAccount();
    const first = observed.securityGroupTargets[0];
    observed.securityGroupTargets.push({ target: { ...first.target, name: 'ssh', ports: [22] }, groups: first.groups });
    first.groups[0].ingress!.push({ ruleId: 'sgr-ssh', protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' });

    const open = runChecks(observed, NOW).filter((f) => f.checkId === 'sg.open-ingress');

    expect(open.map((f) => [f.id, f.status])).toEqual([['sg.open-ingress:sg-0a1b2c3d', 'FAIL']]);
  });
});
