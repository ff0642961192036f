/**
 * Seeds an emulated AWS account (moto_server) shaped like origin-guard.config.example.json: CloudFront with
 * a CDN web ACL in front of an ALB with a regional web ACL, a Kong gateway, two origin-verify secrets,
 * security groups with unrelated rules, a VPC peering and a transit gateway attachment. Used by the demo,
 * the integration and end-to-end tests and the benchmark, so all of them run against the same account shape.
 * Only for emulators: it creates resources with fixed, recognisable names.
 */
import { randomBytes } from 'node:crypto';
import { CreateDistributionCommand, type DistributionConfig } from '@aws-sdk/client-cloudfront';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  AcceptVpcPeeringConnectionCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcCommand,
  CreateVpcPeeringConnectionCommand,
} from '@aws-sdk/client-ec2';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import {
  AssociateWebACLCommand,
  CreateWebACLCommand,
  PutLoggingConfigurationCommand,
  type Rule,
} from '@aws-sdk/client-wafv2';
import { CreateLoadBalancerCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Config } from '../lambdas/config.ts';
import { parseConfig } from '../lambdas/config.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { buildOriginVerifyRule } from '../lambdas/core/waf-rule.ts';

export interface SeedOptions {
  /** Suffix that keeps several seeded accounts apart on one emulator (tests share one moto_server). */
  suffix?: string;
  /** Kong Admin API base URL (a local fake in the demo and tests). */
  kongAdminUrl: string;
  /** The Kong admin token to store in Secrets Manager (default: a random one, returned as kongAdminToken). */
  kongAdminToken?: string;
  /** Konnect API base URL (a local fake); enables the konnect source and audit section when given. */
  konnectUrl?: string;
  konnectNetworkId?: string;
  /** Short timings for demos and tests: overlap, TTLs and propagation in seconds (default 0). */
  fast?: boolean;
  /** The ranges target's sources (default: one static CIDR); a konnect source is pointed at the seeded token. */
  ipRangeSources?: NonNullable<Config['ipRanges']>['targets'][number]['sources'];
}

export interface SeededAccount {
  config: Config;
  initialValues: { cdnToGateway: string; gatewayToUpstream: string };
  distributionId: string;
  cdnAclArn: string;
  gatewayAcl: { name: string; id: string; arn: string };
  loadBalancerArn: string;
  securityGroupIds: string[];
  vpcId: string;
  peeringId: string;
  peeringRouteTableId: string;
  transitGatewayId: string;
  transitGatewayAttachmentId: string;
  tgwRouteTableId: string;
  topicArn: string;
  stateTableName: string;
  kongAdminToken: string;
}

export const visibility = (name: string) => ({ SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: name });

/** AWS's common managed rule group, as teams put it on a gateway web ACL. */
export const commonRuleSetRule = (priority: number): Rule => ({
  Name: 'aws-common',
  Priority: priority,
  Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' } },
  OverrideAction: { None: {} },
  VisibilityConfig: visibility('aws-common'),
});

/** A rate-based blocking rule. */
export const rateLimitRule = (priority: number): Rule => ({
  Name: 'rate-limit',
  Priority: priority,
  Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
  Action: { Block: {} },
  VisibilityConfig: visibility('rate-limit'),
});

/**
 * A distribution in front of the gateway: the `gateway-alb` origin carries the origin-verify header and an
 * unrelated one; a static S3 origin carries its own header only.
 */
export function gatewayDistributionConfig(options: { reference: string; suffix: string; region: string; headerValue: string; webAclId?: string }): DistributionConfig {
  const { reference, suffix, region, headerValue, webAclId } = options;
  return {
    CallerReference: reference,
    Comment: 'api.example.com',
    Enabled: true,
    ...(webAclId ? { WebACLId: webAclId } : {}),
    Origins: {
      Quantity: 2,
      Items: [
        {
          Id: 'gateway-alb',
          DomainName: `gateway-alb-${suffix}.${region}.elb.amazonaws.com`,
          OriginPath: '',
          CustomHeaders: {
            Quantity: 2,
            Items: [
              { HeaderName: 'X-Origin-Verify', HeaderValue: headerValue },
              { HeaderName: 'X-Team', HeaderValue: 'platform' },
            ],
          },
          CustomOriginConfig: {
            HTTPPort: 80,
            HTTPSPort: 443,
            OriginProtocolPolicy: 'https-only',
            OriginSslProtocols: { Quantity: 1, Items: ['TLSv1.2'] },
            OriginReadTimeout: 30,
            OriginKeepaliveTimeout: 5,
          },
        },
        {
          Id: 'static-assets',
          DomainName: `assets-${suffix}.s3.amazonaws.com`,
          OriginPath: '',
          CustomHeaders: { Quantity: 1, Items: [{ HeaderName: 'X-Cache-Tier', HeaderValue: 'static' }] },
          S3OriginConfig: { OriginAccessIdentity: '' },
        },
      ],
    },
    DefaultCacheBehavior: {
      TargetOriginId: 'gateway-alb',
      ViewerProtocolPolicy: 'redirect-to-https',
      MinTTL: 0,
      ForwardedValues: { QueryString: true, Cookies: { Forward: 'none' } },
      TrustedSigners: { Enabled: false, Quantity: 0 },
    },
  };
}

export async function seedAccount(clients: AwsClients, options: SeedOptions): Promise<SeededAccount> {
  const suffix = options.suffix ?? randomBytes(3).toString('hex');
  const region = clients.settings.region;
  const cdnToGateway = randomBytes(32).toString('base64url');
  const gatewayToUpstream = randomBytes(32).toString('base64url');
  const kongAdminToken = options.kongAdminToken ?? randomBytes(16).toString('hex');

  // Secrets: the two origin-verify values and the API tokens.
  const sm = clients.secretsManager();
  const names = {
    cdnToGateway: `origin-guard/cdn-to-gateway-${suffix}`,
    gatewayToUpstream: `origin-guard/gateway-to-upstream-${suffix}`,
    kongToken: `kong/admin-token-${suffix}`,
    konnectToken: `konnect/token-${suffix}`,
  };
  await sm.send(new CreateSecretCommand({ Name: names.cdnToGateway, SecretString: cdnToGateway }));
  await sm.send(new CreateSecretCommand({ Name: names.gatewayToUpstream, SecretString: gatewayToUpstream }));
  await sm.send(new CreateSecretCommand({ Name: names.kongToken, SecretString: kongAdminToken }));
  await sm.send(new CreateSecretCommand({ Name: names.konnectToken, SecretString: 'kpat_demo_token' }));
  // Konnect sources given by the caller read the seeded token.
  const ipRangeSources = options.ipRangeSources?.map((source) => (source.type === 'konnect' ? { ...source, tokenSecretName: names.konnectToken } : source));

  // Network: a VPC with two subnets, the ALB and its security groups (with rules origin-guard does not own).
  const ec2 = clients.ec2();
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnets = [];
  for (const [i, az] of ['a', 'b'].entries()) {
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.0.${i}.0/24`, AvailabilityZone: `${region}${az}` }));
    subnets.push(subnet.Subnet!.SubnetId!);
  }
  const securityGroupIds: string[] = [];
  for (const n of [1, 2, 3]) {
    const group = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: `gateway-alb-${n}-${suffix}`, Description: `gateway ALB ingress ${n}`, VpcId: vpcId }),
    );
    securityGroupIds.push(group.GroupId!);
  }
  // An unrelated rule the team added by hand: origin-guard must never touch it.
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: securityGroupIds[0],
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.99.0.0/16', Description: 'bastion ssh' }] }],
    }),
  );

  const lb = await clients.elbv2().send(
    new CreateLoadBalancerCommand({ Name: `gateway-alb-${suffix}`, Subnets: subnets, SecurityGroups: securityGroupIds, Type: 'application', Scheme: 'internet-facing' }),
  );
  const loadBalancerArn = lb.LoadBalancers![0].LoadBalancerArn!;

  // Regional web ACL on the ALB: a managed rule group, a rate rule, and the origin-verify rule.
  const waf = clients.wafv2('REGIONAL');
  const gatewayAclName = `gateway-acl-${suffix}`;
  const managed = commonRuleSetRule(10);
  const rate = rateLimitRule(20);
  const verify = buildOriginVerifyRule({ ruleName: 'origin-verify', priority: 0, headerName: 'X-Origin-Verify', values: [cdnToGateway] });
  const gatewayAcl = await waf.send(
    new CreateWebACLCommand({
      Name: gatewayAclName,
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Description: 'Kong gateway ALB',
      Rules: [verify, managed, rate],
      VisibilityConfig: visibility(gatewayAclName),
      CustomResponseBodies: { blocked: { ContentType: 'APPLICATION_JSON', Content: '{"message":"forbidden"}' } },
    }),
  );
  const gatewayAclArn = gatewayAcl.Summary!.ARN!;
  await waf.send(new AssociateWebACLCommand({ WebACLArn: gatewayAclArn, ResourceArn: loadBalancerArn }));
  await waf.send(
    new PutLoggingConfigurationCommand({
      LoggingConfiguration: {
        ResourceArn: gatewayAclArn,
        LogDestinationConfigs: [`arn:aws:logs:${region}:123456789012:log-group:aws-waf-logs-gateway-${suffix}`],
        // WAF logs carry every header: never the origin-verify secret.
        RedactedFields: [{ SingleHeader: { Name: 'x-origin-verify' } }],
      },
    }),
  );

  // CloudFront web ACL and the distribution: the gateway origin carries the header; the static origin does not.
  const cdnWaf = clients.wafv2('CLOUDFRONT');
  const cdnAclName = `cdn-acl-${suffix}`;
  const cdnAcl = await cdnWaf.send(
    new CreateWebACLCommand({
      Name: cdnAclName,
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [{ ...managed, Priority: 1 }, { ...rate, Priority: 2 }],
      VisibilityConfig: visibility(cdnAclName),
    }),
  );
  const cdnAclArn = cdnAcl.Summary!.ARN!;
  const distributionConfig = gatewayDistributionConfig({ reference: `origin-guard-${suffix}`, suffix, region, headerValue: cdnToGateway, webAclId: cdnAclArn });
  const distribution = await clients.cloudFront().send(new CreateDistributionCommand({ DistributionConfig: distributionConfig }));
  const distributionId = distribution.Distribution!.Id!;

  // Private connectivity: a peering to the Konnect / partner VPC and a transit gateway attachment.
  const peerVpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '192.168.0.0/16' }));
  const peering = await ec2.send(new CreateVpcPeeringConnectionCommand({ VpcId: vpcId, PeerVpcId: peerVpc.Vpc!.VpcId! }));
  const peeringId = peering.VpcPeeringConnection!.VpcPeeringConnectionId!;
  await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: peeringId }));
  const peeringRoutes = await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }));
  const peeringRouteTableId = peeringRoutes.RouteTable!.RouteTableId!;
  await ec2.send(new CreateRouteCommand({ RouteTableId: peeringRouteTableId, DestinationCidrBlock: '192.168.0.0/16', VpcPeeringConnectionId: peeringId }));

  const tgw = await ec2.send(
    new CreateTransitGatewayCommand({ Description: 'shared services', Options: { AutoAcceptSharedAttachments: 'disable' } }),
  );
  const transitGatewayId = tgw.TransitGateway!.TransitGatewayId!;
  const attachment = await ec2.send(new CreateTransitGatewayVpcAttachmentCommand({ TransitGatewayId: transitGatewayId, VpcId: vpcId, SubnetIds: subnets }));
  const transitGatewayAttachmentId = attachment.TransitGatewayVpcAttachment!.TransitGatewayAttachmentId!;
  const tgwRoutes = await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }));
  const tgwRouteTableId = tgwRoutes.RouteTable!.RouteTableId!;
  await ec2.send(new CreateRouteCommand({ RouteTableId: tgwRouteTableId, DestinationCidrBlock: '10.10.0.0/16', TransitGatewayId: transitGatewayId }));

  // Alerts: the topic and the state table the stack would create.
  const topic = await clients.sns().send(new CreateTopicCommand({ Name: `origin-guard-alerts-${suffix}` }));
  const topicArn = topic.TopicArn!;
  const stateTableName = `origin-guard-alert-state-${suffix}`;
  await ensureStateTable(clients, stateTableName);

  const fast = options.fast ?? true;
  const config = parseConfig(
    {
      region,
      stackName: `OriginGuard-${suffix}`,
      secrets: [
        {
          name: 'cdn-to-gateway',
          secretName: names.cdnToGateway,
          headerName: 'X-Origin-Verify',
          rotationDays: 30,
          overlapMinutes: fast ? 0 : 30,
          senders: [{ type: 'cloudfront', distributionId, originIds: ['gateway-alb'] }],
          validators: [
            {
              type: 'wafv2',
              scope: 'REGIONAL',
              webAclName: gatewayAclName,
              webAclId: gatewayAcl.Summary!.Id!,
              ruleName: 'origin-verify',
              priority: 0,
              propagationSeconds: fast ? 0 : 60,
            },
            {
              type: 'kong-route',
              adminUrl: options.kongAdminUrl,
              routes: ['api'],
              tokenSecretName: names.kongToken,
              propagationSeconds: fast ? 0 : 5,
            },
          ],
        },
        {
          name: 'gateway-to-upstream',
          secretName: names.gatewayToUpstream,
          headerName: 'x-kong-origin-verify',
          overlapMinutes: fast ? 0 : 15,
          senders: [{ type: 'kong-vault', store: 'secretsmanager', ttlSeconds: fast ? 0 : 300, rotationCheckSeconds: fast ? 0 : 60 }],
          validators: [{ type: 'secretsmanager-readers', cacheTtlSeconds: fast ? 0 : 300 }],
        },
      ],
      ipRanges: {
        targets: [
          {
            name: 'gateway-alb',
            securityGroupIds,
            ports: [443],
            maxRulesPerGroup: 60,
            maxRemovalFraction: 0.3,
            sources: ipRangeSources ?? [{ type: 'static', cidrs: ['203.0.113.10/32'] }],
          },
        ],
      },
      audit: {
        webAcls: [
          {
            scope: 'REGIONAL',
            name: gatewayAclName,
            id: gatewayAcl.Summary!.Id!,
            resourceArns: [loadBalancerArn],
            requiredManagedRuleGroups: ['AWSManagedRulesCommonRuleSet'],
            requireRateRule: true,
            requireLogging: true,
          },
        ],
        distributions: [{ id: distributionId, webAclName: cdnAclName }],
        peerings: [{ id: peeringId, routeTableIds: [peeringRouteTableId], allowedCidrs: ['192.168.0.0/16'] }],
        transitGateways: [{ attachmentId: transitGatewayAttachmentId, routeTableIds: [tgwRouteTableId], allowedCidrs: ['10.10.0.0/16'] }],
        ...(options.konnectUrl && options.konnectNetworkId
          ? { konnect: { region: 'us', networkIds: [options.konnectNetworkId], tokenSecretName: names.konnectToken, apiUrl: options.konnectUrl } }
          : {}),
      },
      alerts: { topicArn, stateTableName, reminderHours: 24 },
    },
    'the seeded demo account',
  );

  return {
    config,
    initialValues: { cdnToGateway, gatewayToUpstream },
    distributionId,
    cdnAclArn,
    gatewayAcl: { name: gatewayAclName, id: gatewayAcl.Summary!.Id!, arn: gatewayAclArn },
    loadBalancerArn,
    securityGroupIds,
    vpcId,
    peeringId,
    peeringRouteTableId,
    transitGatewayId,
    transitGatewayAttachmentId,
    tgwRouteTableId,
    topicArn,
    stateTableName,
    kongAdminToken,
  };
}

/** The alert-state table as the stack creates it (partition key `id`), when it does not exist yet. */
export async function ensureStateTable(clients: AwsClients, tableName: string): Promise<void> {
  const ddb = clients.dynamoDb();
  try {
    await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  await ddb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    }),
  );
}
