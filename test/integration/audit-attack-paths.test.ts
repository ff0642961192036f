/**
 * The attack-path checks against the emulator: an account where each passes, then one drift at a time made with
 * the real API (a broad rule, an Allow rule ahead of the origin-verify rule, a disabled schedule, ...), read back
 * by the real collector, and repaired. Each case asserts exactly its failing finding, then its passing one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateDistributionCommand,
  GetDistributionConfigCommand,
  UpdateDistributionCommand,
  type DistributionConfig,
} from '@aws-sdk/client-cloudfront';
import {
  AcceptVpcPeeringConnectionCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  AssociateTransitGatewayRouteTableCommand,
  CreateSubnetCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayRouteTableCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcCommand,
  DescribeTransitGatewayAttachmentsCommand,
  DisableTransitGatewayRouteTablePropagationCommand,
  EnableTransitGatewayRouteTablePropagationCommand,
  CreateVpcPeeringConnectionCommand,
  DescribeManagedPrefixListsCommand,
  ModifyVpcPeeringConnectionOptionsCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DisableRuleCommand, EnableRuleCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { AssociateWebACLCommand, CreateWebACLCommand, GetWebACLCommand, UpdateWebACLCommand, type Rule } from '@aws-sdk/client-wafv2';
import { injectFault, serviceError } from '../support/faults.ts';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { DynamoDbLeases } from '../../lambdas/adapters/lease-dynamodb.ts';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-alerts.ts';
import { runAudit } from '../../lambdas/core/audit.ts';
import { silentLog, type Clock } from '../../lambdas/core/ports.ts';
import { AwsAuditCollector, CLOUDFRONT_PREFIX_LIST_NAME } from '../../lambdas/adapters/audit-collector.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { updateRequestKeepingSettings, WafV2Validator, type WebAclRef } from '../../lambdas/adapters/wafv2.ts';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { VPC_ORIGIN_SERVICE_GROUP_NAME } from '../../lambdas/core/audit-model.ts';
import { ALL_CHECKS, runChecks } from '../../lambdas/core/checks/index.ts';
import { runAuditCommand } from '../../cli/audit.ts';
import type { CliContext } from '../../cli/context.ts';
import { ATTACK_PATH_CHECK_IDS } from '../support/attack-path-checks.ts';
import { OcsfSchema } from '../support/ocsf-schema.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

const clients = allAwsClients(emulatorClientConfig());
const ec2 = () => clients.ec2();
const HEADER = 'X-Origin-Verify';
const CURRENT = `current-${randomBytes(16).toString('hex')}`;
const NOW = new Date();

const visibility = (name: string) => ({ SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: name });
const blockRule = (name: string, priority: number): Rule => ({
  Name: name,
  Priority: priority,
  Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
  Action: { Block: {} },
  VisibilityConfig: visibility(name),
});

interface World {
  webAcl: WebAclRef & { arn: string };
  emptyAcl: WebAclRef & { arn: string };
  distributionId: string;
  groupId: string;
  cloudFrontListId: string;
  pcxId: string;
  ruleName: string;
  config: Config;
  rawConfig: Record<string, unknown>;
  albArn: string;
  privateGroupId: string;
  publicGroupId: string;
  attachmentId: string;
  tgwTableB: string;
}
let world: World;

/**
 * moto 5.2 stores OriginAccessControlId on no origin (it keeps only S3OriginConfig). AWS returns it, so this
 * middleware on the real client puts back what the test last wrote, as AWS would read it back.
 */
let assetsOac: string | undefined = 'E2OACEXAMPLE';
clients.cloudFront().middlewareStack.add(
  (next, context) => async (args) => {
    const result = await next(args);
    if (context.commandName !== 'GetDistributionCommand') return result;
    const output = result.output as { Distribution?: { DistributionConfig?: DistributionConfig } };
    for (const origin of output.Distribution?.DistributionConfig?.Origins?.Items ?? []) {
      if (origin.Id === 'assets') origin.OriginAccessControlId = assetsOac ?? '';
    }
    return result;
  },
  { step: 'initialize', name: 'motoKeepsNoOriginAccessControlId' },
);

function validator(ref: WebAclRef): WafV2Validator {
  return new WafV2Validator(clients.wafv2(ref.scope), {
    scope: ref.scope,
    webAclName: ref.name,
    webAclId: ref.id,
    ruleName: 'origin-verify',
    priority: 5,
    headerName: HEADER,
    propagationSeconds: 0,
  });
}

async function editRules(ref: WebAclRef, edit: (rules: Rule[]) => Rule[], extra: { DefaultAction?: { Allow?: object; Block?: object } } = {}) {
  const waf = clients.wafv2(ref.scope);
  const got = await waf.send(new GetWebACLCommand({ Name: ref.name, Scope: ref.scope, Id: ref.id }));
  const request = updateRequestKeepingSettings(ref, got.WebACL!, got.LockToken!, edit(got.WebACL!.Rules ?? []));
  await waf.send(new UpdateWebACLCommand({ ...request, ...extra }));
}

async function editDistribution(edit: (config: DistributionConfig) => void) {
  const cf = clients.cloudFront();
  const got = await cf.send(new GetDistributionConfigCommand({ Id: world.distributionId }));
  const config = got.DistributionConfig!;
  edit(config);
  await cf.send(new UpdateDistributionCommand({ Id: world.distributionId, IfMatch: got.ETag, DistributionConfig: config }));
}

const OFFICE = '198.51.100.0/24';
const permission = (port: number, cidr: string): IpPermission => ({ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] });
const authorize = (p: IpPermission) => ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [p] }));
const revoke = (p: IpPermission) => ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [p] }));

async function buildWorld(): Promise<World> {
  const secretName = uniqueName('origin-guard/attack-paths');
  await clients.secretsManager().send(new CreateSecretCommand({ Name: secretName, SecretString: CURRENT }));

  const regional = clients.wafv2('REGIONAL');
  const aclName = uniqueName('origin-acl');
  const created = await regional.send(
    new CreateWebACLCommand({ Name: aclName, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, VisibilityConfig: visibility('origin'), Rules: [blockRule('rate', 20)] }),
  );
  const webAcl = { scope: 'REGIONAL' as const, name: aclName, id: created.Summary!.Id!, arn: created.Summary!.ARN! };
  await validator(webAcl).accept([CURRENT]);
  const albArn = `arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/${uniqueName('alb')}/${randomBytes(8).toString('hex')}`;
  await regional.send(new AssociateWebACLCommand({ WebACLArn: webAcl.arn, ResourceArn: albArn }));
  const emptyName = uniqueName('edge-acl');
  const empty = await regional.send(
    new CreateWebACLCommand({ Name: emptyName, Scope: 'REGIONAL', DefaultAction: { Block: {} }, VisibilityConfig: visibility('edge'), Rules: [] }),
  );
  const emptyAcl = { scope: 'REGIONAL' as const, name: emptyName, id: empty.Summary!.Id!, arn: empty.Summary!.ARN! };

  const distribution = await clients.cloudFront().send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: uniqueName('attack-paths'),
        Comment: 'attack paths',
        Enabled: true,
        Logging: { Enabled: true, IncludeCookies: false, Bucket: 'logs.s3.amazonaws.com', Prefix: 'cdn/' },
        Origins: {
          Quantity: 2,
          Items: [
            {
              Id: 'gateway',
              DomainName: 'gateway.example.com',
              CustomHeaders: { Quantity: 1, Items: [{ HeaderName: HEADER, HeaderValue: CURRENT }] },
              CustomOriginConfig: { HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: 'https-only', OriginSslProtocols: { Quantity: 1, Items: ['TLSv1.2'] } },
            },
            {
              Id: 'assets',
              DomainName: 'assets.s3.eu-west-1.amazonaws.com',
              S3OriginConfig: { OriginAccessIdentity: '' },
              OriginAccessControlId: 'E2OACEXAMPLE',
            },
          ],
        },
        DefaultCacheBehavior: { TargetOriginId: 'gateway', ViewerProtocolPolicy: 'redirect-to-https', CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6' },
        ViewerCertificate: {
          ACMCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
          SSLSupportMethod: 'sni-only',
          MinimumProtocolVersion: 'TLSv1.2_2021',
        },
      },
    }),
  );

  const vpcId = (await ec2().send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
  const peerVpcId = (await ec2().send(new CreateVpcCommand({ CidrBlock: '192.168.0.0/16' }))).Vpc!.VpcId!;
  const groupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName('origin'), Description: 'origin load balancer', VpcId: vpcId }))).GroupId!;
  const lists = await ec2().send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: [CLOUDFRONT_PREFIX_LIST_NAME] }] }));
  const cloudFrontListId = lists.PrefixLists!.find((l) => l.PrefixListName === CLOUDFRONT_PREFIX_LIST_NAME)!.PrefixListId!;
  await ec2().send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: cloudFrontListId, Description: 'CloudFront' }] }],
    }),
  );
  // A VPC origin: its group admits CloudFront's service group (created by CloudFront in the VPC).
  const serviceGroupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: VPC_ORIGIN_SERVICE_GROUP_NAME, Description: 'CloudFront VPC origins', VpcId: vpcId }))).GroupId!;
  const privateGroupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName('private'), Description: 'internal load balancer', VpcId: vpcId }))).GroupId!;
  await ec2().send(
    new AuthorizeSecurityGroupIngressCommand({ GroupId: privateGroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, UserIdGroupPairs: [{ GroupId: serviceGroupId }] }] }),
  );
  // A public load balancer, reached from the office today.
  const publicGroupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName('public'), Description: 'public load balancer', VpcId: vpcId }))).GroupId!;
  await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: publicGroupId, IpPermissions: [permission(443, OFFICE)] }));
  const subnets = await Promise.all(
    ['a', 'b'].map(async (az, i) => (await ec2().send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.20.${i + 1}.0/24`, AvailabilityZone: `eu-west-1${az}` }))).Subnet!.SubnetId!),
  );
  const lb = await clients.elbv2().send(new CreateLoadBalancerCommand({ Name: uniqueName('public').slice(0, 32), Subnets: subnets, SecurityGroups: [publicGroupId], Scheme: 'internet-facing' }));
  const publicLbArn = lb.LoadBalancers![0].LoadBalancerArn!;
  // A transit gateway attachment associated with and propagating to route table A only.
  const tgwId = (
    await ec2().send(
      new CreateTransitGatewayCommand({ Options: { AutoAcceptSharedAttachments: 'disable', DefaultRouteTableAssociation: 'disable', DefaultRouteTablePropagation: 'disable' } }),
    )
  ).TransitGateway!.TransitGatewayId!;
  const attachmentId = (await ec2().send(new CreateTransitGatewayVpcAttachmentCommand({ TransitGatewayId: tgwId, VpcId: vpcId, SubnetIds: [subnets[0]] })))
    .TransitGatewayVpcAttachment!.TransitGatewayAttachmentId!;
  const [tgwTableA, tgwTableB] = await Promise.all(
    [0, 1].map(async () => (await ec2().send(new CreateTransitGatewayRouteTableCommand({ TransitGatewayId: tgwId }))).TransitGatewayRouteTable!.TransitGatewayRouteTableId!),
  );
  // moto associates a new attachment with the gateway's default route table even when defaults are disabled
  // (and answers 500 to disassociating it): that table is allowed too.
  const described = await ec2().send(new DescribeTransitGatewayAttachmentsCommand({ Filters: [{ Name: 'transit-gateway-attachment-id', Values: [attachmentId] }] }));
  const defaultTable = described.TransitGatewayAttachments?.find((a) => a.TransitGatewayAttachmentId === attachmentId)?.Association?.TransitGatewayRouteTableId;
  await ec2().send(new AssociateTransitGatewayRouteTableCommand({ TransitGatewayRouteTableId: tgwTableA, TransitGatewayAttachmentId: attachmentId }));
  await ec2().send(new EnableTransitGatewayRouteTablePropagationCommand({ TransitGatewayRouteTableId: tgwTableA, TransitGatewayAttachmentId: attachmentId }));
  const pcxId = (await ec2().send(new CreateVpcPeeringConnectionCommand({ VpcId: vpcId, PeerVpcId: peerVpcId }))).VpcPeeringConnection!.VpcPeeringConnectionId!;
  await ec2().send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcxId }));

  const ruleName = uniqueName('origin-guard-audit-schedule');
  await clients.eventBridge().send(new PutRuleCommand({ Name: ruleName, ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' }));
  await clients.eventBridge().send(
    new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: 'audit', Arn: 'arn:aws:lambda:eu-west-1:123456789012:function:origin-guard-audit' }] }),
  );

  const rawConfig = {
    region: 'eu-west-1',
    secrets: [
      {
        name: 'cdn-to-origin',
        secretName,
        headerName: HEADER,
        rotationDays: 30,
        overlapMinutes: 30,
        senders: [{ type: 'cloudfront', distributionId: distribution.Distribution!.Id!, originIds: ['gateway'] }],
        validators: [{ type: 'wafv2', scope: 'REGIONAL', webAclName: webAcl.name, webAclId: webAcl.id, ruleName: 'origin-verify', priority: 5 }],
      },
    ],
    audit: {
      origins: [
        { name: 'gateway', securityGroupIds: [groupId], ports: [443], secret: 'cdn-to-origin' },
        { name: 'private', securityGroupIds: [privateGroupId], ports: [443], vpcOrigin: true },
        { name: 'public', loadBalancerArns: [publicLbArn], ports: [443] },
      ],
      webAcls: [
        { scope: 'REGIONAL', name: webAcl.name, id: webAcl.id, resourceArns: [albArn] },
        { scope: 'REGIONAL', name: emptyAcl.name, id: emptyAcl.id },
      ],
      distributions: [{ id: distribution.Distribution!.Id! }],
      peerings: [{ id: pcxId }],
      transitGateways: [{ attachmentId, transitGatewayRouteTableIds: [tgwTableA, ...(defaultTable ? [defaultTable] : [])] }],
    },
  };
  const config = parseConfig(rawConfig);
  return { webAcl, emptyAcl, distributionId: distribution.Distribution!.Id!, groupId, cloudFrontListId, pcxId, ruleName, config, rawConfig, albArn, privateGroupId, publicGroupId, attachmentId, tgwTableB };
}

async function findingsOf(checkId: string) {
  const check = ALL_CHECKS.find((c) => c.id === checkId)!;
  const observed = await new AwsAuditCollector(world.config, { clients, watchedRules: [world.ruleName] }).observe();
  expect(observed.readFailures).toEqual([]);
  return runChecks(observed, NOW, [check]);
}

interface Case {
  checkId: string;
  drift: string;
  failingId: () => string;
  breakIt: () => Promise<unknown>;
  repair: () => Promise<unknown>;
}

const originVerifyFirst = (rules: Rule[]) => rules.filter((r) => r.Name !== 'monitoring');

const cases: Case[] = [
  {
    checkId: 'origin.any-distribution',
    drift: 'the origin-verify rule is removed while the group admits CloudFront',
    failingId: () => 'origin.any-distribution:origin:gateway',
    breakIt: () => editRules(world.webAcl, (rules) => rules.filter((r) => r.Name !== 'origin-verify')),
    repair: () => validator(world.webAcl).accept([CURRENT]),
  },
  {
    checkId: 'sg.broad-ingress',
    drift: '0.0.0.0/1 and 128.0.0.0/1 are admitted on 443',
    failingId: () => `sg.broad-ingress:${world.groupId}`,
    breakIt: async () => {
      await authorize(permission(443, '0.0.0.0/1'));
      await authorize(permission(443, '128.0.0.0/1'));
    },
    repair: async () => {
      await revoke(permission(443, '0.0.0.0/1'));
      await revoke(permission(443, '128.0.0.0/1'));
    },
  },
  {
    checkId: 'sg.admin-ports',
    drift: "Kong's admin port 8001 is open to the world",
    failingId: () => `sg.admin-ports:${world.groupId}`,
    breakIt: () => authorize(permission(8001, '0.0.0.0/0')),
    repair: () => revoke(permission(8001, '0.0.0.0/0')),
  },
  {
    checkId: 'origin.vpc-origin-group',
    drift: 'the VPC origin also admits an address range on its port',
    failingId: () => 'origin.vpc-origin-group:origin:private',
    breakIt: () => ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: world.privateGroupId, IpPermissions: [permission(443, '10.20.5.0/24')] })),
    repair: () => ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: world.privateGroupId, IpPermissions: [permission(443, '10.20.5.0/24')] })),
  },
  {
    checkId: 'origin.vpc-origin-candidate',
    drift: 'the public load balancer ends up reached only by CloudFront',
    failingId: () => 'origin.vpc-origin-candidate:origin:public',
    breakIt: async () => {
      await ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: world.publicGroupId, IpPermissions: [permission(443, OFFICE)] }));
      await ec2().send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: world.publicGroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: world.cloudFrontListId }] }] }),
      );
    },
    repair: async () => {
      await ec2().send(
        new RevokeSecurityGroupIngressCommand({ GroupId: world.publicGroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: world.cloudFrontListId }] }] }),
      );
      await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: world.publicGroupId, IpPermissions: [permission(443, OFFICE)] }));
    },
  },
  {
    checkId: 'cloudfront.logging',
    drift: 'access logging is turned off',
    failingId: () => `cloudfront.logging:${world.distributionId}`,
    breakIt: () => editDistribution((c) => void (c.Logging = { Enabled: false, IncludeCookies: false, Bucket: '', Prefix: '' })),
    repair: () => editDistribution((c) => void (c.Logging = { Enabled: true, IncludeCookies: false, Bucket: 'logs.s3.amazonaws.com', Prefix: 'cdn/' })),
  },
  {
    checkId: 'cloudfront.viewer-tls',
    drift: 'viewers may use TLS 1.0',
    failingId: () => `cloudfront.viewer-tls:${world.distributionId}`,
    breakIt: () => editDistribution((c) => void (c.ViewerCertificate!.MinimumProtocolVersion = 'TLSv1')),
    repair: () => editDistribution((c) => void (c.ViewerCertificate!.MinimumProtocolVersion = 'TLSv1.2_2021')),
  },
  {
    checkId: 'cloudfront.s3-oac',
    drift: 'the S3 origin loses its origin access control',
    failingId: () => `cloudfront.s3-oac:${world.distributionId}`,
    breakIt: async () => {
      await editDistribution((c) => void (c.Origins!.Items![1].OriginAccessControlId = ''));
      assetsOac = undefined;
    },
    repair: async () => {
      await editDistribution((c) => void (c.Origins!.Items![1].OriginAccessControlId = 'E2OACEXAMPLE'));
      assetsOac = 'E2OACEXAMPLE';
    },
  },
  {
    checkId: 'waf.default-action',
    drift: 'a rule-less web ACL is switched to default Allow',
    failingId: () => `waf.default-action:wafv2:REGIONAL/${world.emptyAcl.name}`,
    breakIt: () => editRules(world.emptyAcl, (rules) => rules, { DefaultAction: { Allow: {} } }),
    repair: () => editRules(world.emptyAcl, (rules) => rules, { DefaultAction: { Block: {} } }),
  },
  {
    checkId: 'waf.rule-metrics',
    drift: 'the rate rule stops publishing metrics',
    failingId: () => `waf.rule-metrics:wafv2:REGIONAL/${world.webAcl.name}`,
    breakIt: () => editRules(world.webAcl, (rules) => rules.map((r) => (r.Name === 'rate' ? { ...r, VisibilityConfig: { ...r.VisibilityConfig!, CloudWatchMetricsEnabled: false } } : r))),
    repair: () => editRules(world.webAcl, (rules) => rules.map((r) => (r.Name === 'rate' ? { ...r, VisibilityConfig: visibility('rate') } : r))),
  },
  {
    checkId: 'waf.rules-before-origin-verify',
    drift: 'an Allow rule is added ahead of the origin-verify rule',
    failingId: () => `waf.rules-before-origin-verify:wafv2:REGIONAL/${world.webAcl.name}/origin-verify`,
    breakIt: () =>
      editRules(world.webAcl, (rules) => [
        ...rules,
        {
          Name: 'monitoring',
          Priority: 1,
          Statement: { ByteMatchStatement: { SearchString: new TextEncoder().encode('monitor'), FieldToMatch: { SingleHeader: { Name: 'user-agent' } }, TextTransformations: [{ Priority: 0, Type: 'NONE' }], PositionalConstraint: 'CONTAINS' } },
          Action: { Allow: {} },
          VisibilityConfig: visibility('monitoring'),
        },
      ]),
    repair: () => editRules(world.webAcl, originVerifyFirst),
  },
  {
    checkId: 'peering.dns-resolution',
    drift: 'the accepter starts resolving private DNS across the peering',
    failingId: () => `peering.dns-resolution:${world.pcxId}`,
    breakIt: () =>
      ec2().send(new ModifyVpcPeeringConnectionOptionsCommand({ VpcPeeringConnectionId: world.pcxId, AccepterPeeringConnectionOptions: { AllowDnsResolutionFromRemoteVpc: true } })),
    repair: () =>
      ec2().send(new ModifyVpcPeeringConnectionOptionsCommand({ VpcPeeringConnectionId: world.pcxId, AccepterPeeringConnectionOptions: { AllowDnsResolutionFromRemoteVpc: false } })),
  },
  {
    checkId: 'tgw.route-tables',
    drift: 'the attachment starts propagating to another transit gateway route table',
    failingId: () => `tgw.route-tables:${world.attachmentId}`,
    breakIt: () => ec2().send(new EnableTransitGatewayRouteTablePropagationCommand({ TransitGatewayRouteTableId: world.tgwTableB, TransitGatewayAttachmentId: world.attachmentId })),
    repair: () => ec2().send(new DisableTransitGatewayRouteTablePropagationCommand({ TransitGatewayRouteTableId: world.tgwTableB, TransitGatewayAttachmentId: world.attachmentId })),
  },
  {
    checkId: 'watch.rules',
    drift: "origin-guard's schedule rule is disabled",
    failingId: () => `watch.rules:events:rule/${world.ruleName}`,
    breakIt: () => clients.eventBridge().send(new DisableRuleCommand({ Name: world.ruleName })),
    repair: () => clients.eventBridge().send(new EnableRuleCommand({ Name: world.ruleName })),
  },
];

beforeAll(async () => {
  world = await buildWorld();
});

describe('attack-path checks on the emulator', () => {
  it('covers exactly the attack-path checks', () => {
    expect(cases.map((c) => c.checkId).sort()).toEqual([...ATTACK_PATH_CHECK_IDS].sort());
  });

  describe.each(cases)('$checkId', ({ checkId, drift, failingId, breakIt, repair }) => {
    it(`passes, fails when ${drift}, and passes again after the repair`, async () => {
      const before = await findingsOf(checkId);
      expect(before.filter((f) => f.status !== 'PASS')).toEqual([]);
      expect(before.map((f) => f.id)).toContain(failingId());

      await breakIt();
      try {
        const broken = await findingsOf(checkId);
        expect(broken.filter((f) => f.status === 'FAIL').map((f) => f.id)).toEqual([failingId()]);
        expect(JSON.stringify(broken)).not.toContain(CURRENT);
      } finally {
        await repair();
      }

      const after = await findingsOf(checkId);
      expect(after.find((f) => f.id === failingId())?.status).toBe('PASS');
    });
  });
});

describe('a swapped web ACL', () => {
  it('is the HIGH drift it is, not a read failure, when reading the association is denied', async () => {
    const findings = async () => {
      const observed = await new AwsAuditCollector(world.config, { clients }).observe();
      return { findings: runChecks(observed, NOW, ALL_CHECKS.filter((c) => c.id === 'waf.associated' || c.id === 'audit.read')), failures: observed.readFailures };
    };
    const before = await findings();
    // The role may read only the configured web ACLs: with another one on the load balancer, WAF denies the read.
    const denied = injectFault(clients.wafv2('REGIONAL'), {
      command: 'GetWebACLForResourceCommand',
      error: () => serviceError('WAFAccessDeniedException', 'not authorized to perform wafv2:GetWebACL on the associated web ACL'),
    });
    let swapped;
    try {
      swapped = await findings();
    } finally {
      denied.remove();
    }
    const after = await findings();

    expect(before.findings.find((f) => f.id === `waf.associated:${world.albArn}`)?.status).toBe('PASS');
    expect(swapped.findings.filter((f) => f.status === 'FAIL')).toEqual([
      expect.objectContaining({ id: `waf.associated:${world.albArn}`, severity: 'HIGH', message: expect.stringContaining('another web ACL') }),
    ]);
    expect(swapped.failures).toEqual([]);
    expect(after.findings.find((f) => f.id === `waf.associated:${world.albArn}`)?.status).toBe('PASS');
  });
});

describe('audit --ocsf on the emulator', () => {
  it.skipIf(!OcsfSchema.available())('writes every finding as an OCSF 1.6.0 Detection Finding that validates, a bypass among them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'og-ocsf-'));
    const configPath = join(dir, 'config.json');
    const ocsfPath = join(dir, 'findings.ocsf.json');
    writeFileSync(configPath, JSON.stringify(world.rawConfig));
    const out: string[] = [];
    const ctx: CliContext = { stdout: (t) => void out.push(t), stderr: () => {}, env: { ...process.env }, interactive: false };
    await editRules(world.webAcl, (rules) => rules.filter((r) => r.Name !== 'origin-verify'));
    let code: number;
    try {
      code = await runAuditCommand(['--config', configPath, '--json', '--ocsf', ocsfPath], ctx, { clients });
    } finally {
      await validator(world.webAcl).accept([CURRENT]);
    }

    const events = JSON.parse(readFileSync(ocsfPath, 'utf8')) as Array<Record<string, any>>;
    const schema = new OcsfSchema();
    const attributes = schema.classAttributes('events/findings/detection_finding.json');
    const json = JSON.parse(out.join('\n')) as { findings: Array<{ id: string }> };

    expect(code).toBe(1);
    expect(events.map((e) => e.finding_info.uid).sort()).toEqual(json.findings.map((f) => f.id).sort());
    for (const event of events) expect(schema.validate(event, attributes)).toEqual([]);
    expect(events.find((e) => e.finding_info.uid === 'origin.any-distribution:origin:gateway')).toMatchObject({ status_code: 'FAIL', severity_id: 5, class_uid: 2004 });
    expect(readFileSync(ocsfPath, 'utf8')).not.toContain(CURRENT);
  });
});

describe('bursts and out-of-order observations', () => {
  const sqs = new SQSClient(emulatorClientConfig());
  let topicArn: string;
  let tableName: string;
  let inboxUrl: string;

  async function queue(name: string): Promise<{ url: string; arn: string }> {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName(name) }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    return { url, arn };
  }

  /** Everything waiting in a queue (bounded: 30 receives of 10). */
  async function drain(url: string) {
    const all: Array<{ MessageId?: string; Body?: string }> = [];
    for (let round = 0; round < 30; round += 1) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (Messages.length === 0) break;
      all.push(...Messages);
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    return all;
  }

  const subjects = async () => (await drain(inboxUrl)).map((m) => (JSON.parse(m.Body!) as { Subject: string }).Subject.split(':')[0]);

  beforeAll(async () => {
    topicArn = (await clients.sns().send(new CreateTopicCommand({ Name: uniqueName('alerts') }))).TopicArn!;
    const inbox = await queue('inbox');
    inboxUrl = inbox.url;
    await clients.sns().send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: inbox.arn }));
    tableName = uniqueName('alert-state');
    await new DynamoDbAlertState(clients.dynamoDb(), tableName).ensureTable();
  });

  it('answers a burst of 50 CloudTrail events with one audit of the account and region, and one alert', async () => {
    process.env.ORIGIN_GUARD_CONFIG_JSON = JSON.stringify(world.rawConfig);
    process.env.ALERT_TOPIC_ARN = topicArn;
    process.env.ALERT_STATE_TABLE = tableName;
    process.env.AWS_ENDPOINT_URL = motoEndpoint();
    process.env.ORIGIN_GUARD_WATCHED_RULES = world.ruleName;
    const { handler } = await import('../../lambdas/handlers/audit.ts');
    // What the CloudTrail rule puts on the audit queue: 50 calls of one Terraform apply, one of them the drift.
    const auditQueue = await queue('audit-events');
    const event = (i: number) => ({
      version: '0',
      id: `burst-${i}`,
      'detail-type': 'AWS API Call via CloudTrail',
      source: 'aws.ec2',
      account: '123456789012',
      time: new Date().toISOString(),
      // Some arrive forwarded from us-east-1 (GlobalEventsStack): still the same audit of the home region.
      region: i % 7 === 3 ? 'us-east-1' : 'eu-west-1',
      resources: [],
      detail: {
        eventSource: 'ec2.amazonaws.com',
        eventName: i === 0 ? 'AuthorizeSecurityGroupIngress' : 'ModifySecurityGroupRules',
        awsRegion: 'eu-west-1',
        requestParameters: { groupId: world.groupId },
      },
    });
    for (let i = 0; i < 50; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: auditQueue.url, Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: JSON.stringify(event(i + j)) })) }));
    }
    await authorize(permission(443, '0.0.0.0/1'));
    let summary;
    try {
      // The event source mapping's batching window hands the function the whole burst at once.
      const records = await drain(auditQueue.url);
      summary = await handler(
        { Records: records.map((m) => ({ eventSource: 'aws:sqs', messageId: m.MessageId!, body: m.Body! })) },
        { invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:origin-guard-audit', awsRequestId: 'burst' },
      );
    } finally {
      await revoke(permission(443, '0.0.0.0/1'));
    }

    expect(summary).toMatchObject({ events: 50, failedIds: [`sg.broad-ingress:${world.groupId}`], alerts: 1 });
    expect(summary.trigger).toBe('ec2.amazonaws.com:AuthorizeSecurityGroupIngress, ec2.amazonaws.com:ModifySecurityGroupRules');
    expect(await subjects()).toEqual(['[CRITICAL] DRIFT sg.broad-ingress']);

    // The revoke's own event, alone in its batch, resolves it.
    const revokeEvent = { ...event(50), detail: { ...event(50).detail, eventName: 'RevokeSecurityGroupIngress' } };
    const resolved = await handler({ Records: [{ eventSource: 'aws:sqs', messageId: 'revoke', body: JSON.stringify(revokeEvent) }] });
    expect(resolved).toMatchObject({ trigger: 'ec2.amazonaws.com:RevokeSecurityGroupIngress', events: 1, failed: 0, alerts: 1 });
    expect(await subjects()).toEqual(['[CRITICAL] RESOLVED sg.broad-ingress']);
  });

  it('runs at most one audit of an account and region at a time: a queued batch goes back, a schedule tick is skipped', async () => {
    const { handler } = await import('../../lambdas/handlers/audit.ts');
    const other = new DynamoDbLeases(clients.dynamoDb(), tableName, 'lambda:another-audit:1');
    const held = await other.acquire('audit:123456789012/eu-west-1', 'audit', 60_000);
    const tick = { version: '0', id: 'tick', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', region: 'eu-west-1', time: new Date().toISOString(), resources: [], detail: {} };
    let queued: unknown;
    let scheduled;
    try {
      queued = await handler({ Records: [{ eventSource: 'aws:sqs', messageId: 'm1', body: JSON.stringify(tick) }] }).catch((error: Error) => error);
      scheduled = await handler(tick);
    } finally {
      await held.release();
    }

    expect((queued as Error).message).toMatch(/another audit of 123456789012\/eu-west-1 is running .*goes back to the queue/);
    expect(scheduled).toMatchObject({ skipped: 'another audit of this account and region is running', findings: 0 });
  });

  it('keeps NEW → (quiet) → RESOLVED when an older failing observation arrives after the resolution', async () => {
    const state = new DynamoDbAlertState(clients.dynamoDb(), tableName);
    let at = Date.now();
    const clock: Clock = { now: () => new Date(at), sleep: async () => {} };
    const audit = (startedAt: number) => {
      at = startedAt;
      return runAudit({
        observer: new AwsAuditCollector(world.config, { clients }),
        clock,
        log: silentLog,
        checks: ALL_CHECKS.filter((c) => c.id === 'sg.admin-ports'),
        alerting: { publisher: new SnsAlertPublisher(clients.sns(), topicArn, clock.now), state, reminderHours: 24 },
      });
    };
    const t0 = Date.now();

    await authorize(permission(22, '0.0.0.0/0'));
    try {
      await audit(t0 + 60_000); // observed failing at +1 min
      await revoke(permission(22, '0.0.0.0/0'));
      await audit(t0 + 180_000); // observed passing at +3 min
      await authorize(permission(22, '0.0.0.0/0'));
      // An audit that started at +2 min (and saw the port open) delivers last.
      const late = await audit(t0 + 120_000);
      expect(late.findings.find((f) => f.checkId === 'sg.admin-ports')?.status).toBe('FAIL');
    } finally {
      await revoke(permission(22, '0.0.0.0/0'));
    }

    expect(await subjects()).toEqual(['[HIGH] DRIFT sg.admin-ports', '[HIGH] RESOLVED sg.admin-ports']);
  });
});
