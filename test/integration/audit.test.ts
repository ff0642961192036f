/**
 * The audit against the emulator: a compliant account passes every check; then one thing at a time is
 * broken and repaired. Each drift yields exactly its failing finding and one SNS message (read back from
 * moto), a second audit none, and the repair one resolution.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateManagedPrefixListCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcCommand,
  CreateVpcPeeringConnectionCommand,
  DeleteRouteCommand,
  DeleteTransitGatewayVpcAttachmentCommand,
  DeleteVpcPeeringConnectionCommand,
  ModifyTransitGatewayCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  DescribeSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  AssociateWebACLCommand,
  CreateWebACLCommand,
  DeleteLoggingConfigurationCommand,
  DisassociateWebACLCommand,
  PutLoggingConfigurationCommand,
  UpdateWebACLCommand,
  type Rule,
} from '@aws-sdk/client-wafv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditCommand } from '../../cli/audit.ts';
import type { CliContext } from '../../cli/context.ts';
import { DynamoDbAlertState } from '../../lambdas/adapters/alert-state-dynamodb.ts';
import { AwsAuditCollector } from '../../lambdas/adapters/audit-collector.ts';
import { allAwsClients } from '../../lambdas/adapters/all-clients.ts';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-alerts.ts';
import { getWebAcl, updateRequestKeepingSettings, WafV2Validator, type WebAclRef } from '../../lambdas/adapters/wafv2.ts';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { runAudit } from '../../lambdas/core/audit.ts';
import { ALL_CHECKS } from '../../lambdas/core/checks/index.ts';
import { silentLog, TAG, type Clock } from '../../lambdas/core/ports.ts';
import { ATTACK_PATH_CHECK_IDS } from '../support/attack-path-checks.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';
import { konnectNetwork, konnectTransitGateway, startFakeKonnect, type FakeKonnect } from '../support/fake-konnect.ts';

const clients = allAwsClients(emulatorClientConfig());
const sqs = new SQSClient(emulatorClientConfig());
let queueUrl: string;
/** Every message received from the topic so far, in order. */
const inbox: Array<{ subject?: string; message: string }> = [];

/** Messages the topic delivered since the last call (SNS delivers to SQS while Publish runs, in moto). */
async function newMessages(): Promise<Array<{ subject?: string; message: string }>> {
  const received: Array<{ subject?: string; message: string }> = [];
  for (let round = 0; round < 20; round += 1) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (Messages.length === 0) break;
    for (const m of Messages) {
      const envelope = JSON.parse(m.Body!) as { Subject?: string; Message: string };
      received.push({ subject: envelope.Subject, message: envelope.Message });
    }
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
  inbox.push(...received);
  return received;
}
const CURRENT = `current-${randomBytes(16).toString('hex')}`;
const OLD = `old-${randomBytes(16).toString('hex')}`;
const KONNECT_TOKEN = 'kpat_audit_test_token';
const HEADER = 'X-Origin-Verify';

/** What the fake origin does with the header: the probes prove which of these is deployed. */
type OriginMode = 'enforcing' | 'any-value' | 'no-header-allowed';

interface Account {
  secretName: string;
  oldVersionId: string;
  webAcl: WebAclRef & { arn: string };
  cdnAclArn: string;
  albArn: string;
  distributionId: string;
  groupId: string;
  pcxId: string;
  peeringTableId: string;
  tgwId: string;
  attachmentId: string;
  tgwTableId: string;
  vpcId: string;
  subnetId: string;
  peerVpcId: string;
  networkId: string;
  konnectAttachmentId: string;
  topicArn: string;
  tableName: string;
}

let account: Account;
let rawConfig: Record<string, any>;
let config: Config;
let konnect: FakeKonnect;
let origin: Server;
let cdn: Server;
let originMode: OriginMode = 'enforcing';
let cdnStatus = 200;
let clockOffsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + clockOffsetMs), sleep: async () => {} };

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function startOrigin(): Server {
  return createServer((req, res) => {
    const sent = req.headers[HEADER.toLowerCase()];
    const allowed =
      originMode === 'enforcing' ? sent === CURRENT : originMode === 'any-value' ? sent !== undefined : sent === undefined || sent === CURRENT;
    res.writeHead(allowed ? 200 : 403).end(allowed ? 'ok' : 'forbidden');
  });
}

// ---------- building the account ----------

const loggingOf = (arn: string) => ({ ResourceArn: arn, LogDestinationConfigs: ['arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-x'] });
const visibility = (name: string) => ({ SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: name });
const commonRuleSet = (count = false): Rule => ({
  Name: 'common',
  Priority: 10,
  Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' } },
  OverrideAction: count ? { Count: {} } : { None: {} },
  VisibilityConfig: visibility('common'),
});
const rateRule: Rule = {
  Name: 'rate',
  Priority: 20,
  Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
  Action: { Block: {} },
  VisibilityConfig: visibility('rate'),
};

function validator(ref: WebAclRef): WafV2Validator {
  return new WafV2Validator(clients.wafv2(ref.scope), {
    scope: ref.scope,
    webAclName: ref.name,
    webAclId: ref.id,
    ruleName: 'origin-verify',
    priority: 0,
    headerName: HEADER,
    propagationSeconds: 0,
  });
}

async function updateRules(ref: WebAclRef, change: (rules: Rule[]) => Rule[]): Promise<void> {
  const { webAcl, lockToken } = await getWebAcl(clients.wafv2(ref.scope), ref);
  await clients.wafv2(ref.scope).send(new UpdateWebACLCommand(updateRequestKeepingSettings(ref, webAcl, lockToken, change(webAcl.Rules ?? []))));
}

async function updateDistribution(id: string, change: (config: DistributionConfig) => void): Promise<void> {
  const current = await clients.cloudFront().send(new GetDistributionConfigCommand({ Id: id }));
  const next = structuredClone(current.DistributionConfig!);
  change(next);
  await clients.cloudFront().send(new UpdateDistributionCommand({ Id: id, IfMatch: current.ETag, DistributionConfig: next }));
}

/** moto's RotateSecret fails without a real function but switches rotation on, leaving an AWSPENDING behind. */
async function enableRotation(secretName: string): Promise<void> {
  const sm = clients.secretsManager();
  await sm
    .send(new RotateSecretCommand({ SecretId: secretName, RotationLambdaARN: 'arn:aws:lambda:eu-west-1:123456789012:function:rotate', RotationRules: { AutomaticallyAfterDays: 30 }, RotateImmediately: false }))
    .catch(() => undefined);
  const described = await sm.send(new DescribeSecretCommand({ SecretId: secretName }));
  for (const [versionId, stages] of Object.entries(described.VersionIdsToStages ?? {})) {
    if (stages.includes('AWSPENDING')) {
      await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretName, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }));
    }
  }
}

const ec2 = () => clients.ec2();
const ingress443 = (cidr: string, description?: string) => ({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: cidr, ...(description ? { Description: description } : {}) }] });

async function buildCompliantAccount(): Promise<Account> {
  const sm = clients.secretsManager();
  const secretName = uniqueName('origin-guard/audit');
  await sm.send(new CreateSecretCommand({ Name: secretName, SecretString: CURRENT }));
  await enableRotation(secretName);
  const old = await sm.send(new PutSecretValueCommand({ SecretId: secretName, SecretString: OLD, VersionStages: ['test-old'] }));
  const tokenSecret = uniqueName('konnect/token');
  await sm.send(new CreateSecretCommand({ Name: tokenSecret, SecretString: KONNECT_TOKEN }));
  rawConfigParts.tokenSecret = tokenSecret;

  const regional = clients.wafv2('REGIONAL');
  const aclName = uniqueName('gateway-acl');
  const created = await regional.send(
    new CreateWebACLCommand({ Name: aclName, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, VisibilityConfig: visibility('gateway'), Rules: [commonRuleSet(), rateRule] }),
  );
  const webAcl = { scope: 'REGIONAL' as const, name: aclName, id: created.Summary!.Id!, arn: created.Summary!.ARN! };
  await validator(webAcl).accept([CURRENT]);
  await regional.send(
    new PutLoggingConfigurationCommand({
      LoggingConfiguration: {
        ResourceArn: webAcl.arn,
        LogDestinationConfigs: [`arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-${aclName}`],
        RedactedFields: [{ SingleHeader: { Name: 'x-origin-verify' } }],
      },
    }),
  );
  const albArn = `arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/${uniqueName('alb')}/${randomBytes(8).toString('hex')}`;
  await regional.send(new AssociateWebACLCommand({ WebACLArn: webAcl.arn, ResourceArn: albArn }));

  const cdnAcl = await clients
    .wafv2('CLOUDFRONT')
    .send(new CreateWebACLCommand({ Name: uniqueName('cdn-acl'), Scope: 'CLOUDFRONT', DefaultAction: { Allow: {} }, VisibilityConfig: visibility('cdn'), Rules: [] }));
  const distribution = await clients.cloudFront().send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: uniqueName('audit'),
        Comment: 'audit test',
        Enabled: true,
        Logging: { Enabled: true, IncludeCookies: false, Bucket: 'audit-logs.s3.amazonaws.com', Prefix: 'cdn/' },
        Origins: {
          Quantity: 1,
          Items: [
            {
              Id: 'gateway',
              DomainName: 'gateway.example.com',
              CustomHeaders: { Quantity: 1, Items: [{ HeaderName: HEADER, HeaderValue: CURRENT }] },
              CustomOriginConfig: {
                HTTPPort: 80,
                HTTPSPort: 443,
                OriginProtocolPolicy: 'https-only',
                OriginSslProtocols: { Quantity: 1, Items: ['TLSv1.2'] },
              },
            },
          ],
        },
        DefaultCacheBehavior: { TargetOriginId: 'gateway', ViewerProtocolPolicy: 'redirect-to-https', CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6' },
        WebACLId: cdnAcl.Summary!.ARN!,
      },
    }),
  );

  const vpcId = (await ec2().send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
  const peerVpcId = (await ec2().send(new CreateVpcCommand({ CidrBlock: '192.168.0.0/16' }))).Vpc!.VpcId!;
  const subnetId = (await ec2().send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
  const groupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName('alb'), Description: 'gateway load balancer', VpcId: vpcId }))).GroupId!;
  await ec2().send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: OWNED.map((cidr) => ({ CidrIp: cidr, Description: 'origin-guard:alb:static' })) }],
    }),
  );
  const pcxId = (await ec2().send(new CreateVpcPeeringConnectionCommand({ VpcId: vpcId, PeerVpcId: peerVpcId }))).VpcPeeringConnection!.VpcPeeringConnectionId!;
  await ec2().send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcxId }));
  const peeringTableId = (await ec2().send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
  await ec2().send(new CreateRouteCommand({ RouteTableId: peeringTableId, DestinationCidrBlock: '192.168.1.0/24', VpcPeeringConnectionId: pcxId }));
  const tgwId = (await ec2().send(new CreateTransitGatewayCommand({ Options: { AutoAcceptSharedAttachments: 'disable' } }))).TransitGateway!.TransitGatewayId!;
  const attachmentId = (await ec2().send(new CreateTransitGatewayVpcAttachmentCommand({ TransitGatewayId: tgwId, VpcId: vpcId, SubnetIds: [subnetId] })))
    .TransitGatewayVpcAttachment!.TransitGatewayAttachmentId!;
  const tgwTableId = (await ec2().send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
  await ec2().send(new CreateRouteCommand({ RouteTableId: tgwTableId, DestinationCidrBlock: '10.10.0.0/16', TransitGatewayId: tgwId }));

  const networkId = `net-${randomBytes(4).toString('hex')}`;
  const konnectAttachmentId = `tg-${randomBytes(4).toString('hex')}`;
  konnect.setNetwork(konnectNetwork({ id: networkId, name: 'prod-network', state: 'ready' }));
  konnect.setTransitGateways(networkId, [konnectTransitGateway({ id: konnectAttachmentId, name: 'to-aws', state: 'ready', transitGatewayId: tgwId })]);

  const topicArn = (await clients.sns().send(new CreateTopicCommand({ Name: uniqueName('alerts') }))).TopicArn!;
  // moto's /moto-api/data.json takes about a second to dump; a queue subscribed to the topic reads back fast.
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('alerts-inbox') }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await clients.sns().send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
  const tableName = uniqueName('alert-state');
  await new DynamoDbAlertState(clients.dynamoDb(), tableName).ensureTable();

  return {
    secretName,
    oldVersionId: old.VersionId!,
    webAcl,
    cdnAclArn: cdnAcl.Summary!.ARN!,
    albArn,
    distributionId: distribution.Distribution!.Id!,
    groupId,
    pcxId,
    peeringTableId,
    tgwId,
    attachmentId,
    tgwTableId,
    vpcId,
    subnetId,
    peerVpcId,
    networkId,
    konnectAttachmentId,
    topicArn,
    tableName,
  };
}

const OWNED = ['203.0.113.0/24', '198.51.100.0/24'];
const rawConfigParts: { tokenSecret?: string; originUrl?: string; cdnUrl?: string } = {};

function configFor(a: Account): Record<string, any> {
  return {
    region: 'eu-west-1',
    secrets: [
      {
        name: 'cdn-to-gateway',
        secretName: a.secretName,
        headerName: HEADER,
        rotationDays: 30,
        overlapMinutes: 30,
        senders: [{ type: 'cloudfront', distributionId: a.distributionId }],
        validators: [{ type: 'wafv2', scope: 'REGIONAL', webAclName: a.webAcl.name, webAclId: a.webAcl.id, ruleName: 'origin-verify', priority: 0 }],
      },
    ],
    ipRanges: {
      targets: [
        { name: 'alb', securityGroupIds: [a.groupId], ports: [443], ipVersions: ['ipv4'], maxRulesPerGroup: 10, sources: [{ type: 'static', cidrs: OWNED }] },
      ],
    },
    audit: {
      webAcls: [
        {
          scope: 'REGIONAL',
          name: a.webAcl.name,
          id: a.webAcl.id,
          resourceArns: [a.albArn],
          requiredManagedRuleGroups: ['AWSManagedRulesCommonRuleSet'],
          requireRateRule: true,
          requireLogging: true,
        },
      ],
      distributions: [{ id: a.distributionId, webAclName: a.cdnAclArn.split('/')[2] }],
      peerings: [{ id: a.pcxId, routeTableIds: [a.peeringTableId], allowedCidrs: ['192.168.0.0/16'] }],
      transitGateways: [{ attachmentId: a.attachmentId, routeTableIds: [a.tgwTableId], allowedCidrs: ['10.10.0.0/16'] }],
      konnect: { region: 'us', networkIds: [a.networkId], tokenSecretName: rawConfigParts.tokenSecret, apiUrl: konnect.url },
      probes: [{ name: 'gateway', originUrl: rawConfigParts.originUrl, cdnUrl: rawConfigParts.cdnUrl, headerName: HEADER, timeoutMs: 2000 }],
    },
    alerts: { topicArn: a.topicArn, stateTableName: a.tableName, reminderHours: 24 },
  };
}

// ---------- auditing ----------

const state = () => new DynamoDbAlertState(clients.dynamoDb(), account.tableName);

async function audit(options: { config?: Config } = {}) {
  await newMessages();
  const result = await runAudit({
    observer: new AwsAuditCollector(options.config ?? config, { clients }),
    clock,
    log: silentLog,
    alerting: { publisher: new SnsAlertPublisher(clients.sns(), account.topicArn, clock.now), state: state(), reminderHours: 24 },
  });
  const messages = await newMessages();
  for (const m of messages) expect(`${m.subject}\n${m.message}`).not.toContain(CURRENT);
  return { result, failed: result.findings.filter((f) => f.status === 'FAIL').map((f) => f.id), messages };
}

beforeAll(async () => {
  konnect = await startFakeKonnect({ token: KONNECT_TOKEN });
  origin = startOrigin();
  cdn = createServer((_req, res) => void res.writeHead(cdnStatus).end());
  rawConfigParts.originUrl = await listen(origin);
  rawConfigParts.cdnUrl = await listen(cdn);
  account = await buildCompliantAccount();
  rawConfig = configFor(account);
  config = parseConfig(rawConfig);
});

afterAll(async () => {
  await konnect?.close();
  await new Promise((resolve) => origin?.close(resolve));
  await new Promise((resolve) => cdn?.close(resolve));
});

interface DriftCase {
  checkId: string;
  drift: string;
  failingId: () => string;
  breakIt: () => Promise<void> | void;
  repair: () => Promise<void> | void;
}

let auditConfig: Config | undefined;

const driftCases: DriftCase[] = [
  {
    checkId: 'waf.exists',
    drift: 'the config points at a web ACL that does not exist',
    failingId: () => `waf.exists:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: () => void (auditConfig = parseConfig({ ...rawConfig, audit: { ...rawConfig.audit, webAcls: [{ ...rawConfig.audit.webAcls[0], id: 'deleted-0000' }] } })),
    repair: () => void (auditConfig = undefined),
  },
  {
    checkId: 'waf.associated',
    drift: 'the web ACL is detached from the load balancer',
    failingId: () => `waf.associated:${account.albArn}`,
    breakIt: async () => void (await clients.wafv2('REGIONAL').send(new DisassociateWebACLCommand({ ResourceArn: account.albArn }))),
    repair: async () => void (await clients.wafv2('REGIONAL').send(new AssociateWebACLCommand({ WebACLArn: account.webAcl.arn, ResourceArn: account.albArn }))),
  },
  {
    checkId: 'waf.managed-rules',
    drift: 'the common rule set is switched to count-only',
    failingId: () => `waf.managed-rules:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: () => updateRules(account.webAcl, (rules) => rules.map((r) => (r.Name === 'common' ? commonRuleSet(true) : r))),
    repair: () => updateRules(account.webAcl, (rules) => rules.map((r) => (r.Name === 'common' ? commonRuleSet() : r))),
  },
  {
    checkId: 'waf.rate-rule',
    drift: 'the rate rule is deleted',
    failingId: () => `waf.rate-rule:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: () => updateRules(account.webAcl, (rules) => rules.filter((r) => r.Name !== 'rate')),
    repair: () => updateRules(account.webAcl, (rules) => [...rules, rateRule]),
  },
  {
    checkId: 'waf.logging',
    drift: 'logging is disabled',
    failingId: () => `waf.logging:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: async () => void (await clients.wafv2('REGIONAL').send(new DeleteLoggingConfigurationCommand({ ResourceArn: account.webAcl.arn }))),
    repair: async () =>
      void (await clients.wafv2('REGIONAL').send(
        new PutLoggingConfigurationCommand({ LoggingConfiguration: { ...loggingOf(account.webAcl.arn), RedactedFields: [{ SingleHeader: { Name: 'x-origin-verify' } }] } }),
      )),
  },
  {
    checkId: 'waf.log-redaction',
    drift: 'the WAF logs stop redacting the origin-verify header',
    failingId: () => `waf.log-redaction:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: async () => void (await clients.wafv2('REGIONAL').send(new PutLoggingConfigurationCommand({ LoggingConfiguration: loggingOf(account.webAcl.arn) }))),
    repair: async () =>
      void (await clients.wafv2('REGIONAL').send(
        new PutLoggingConfigurationCommand({ LoggingConfiguration: { ...loggingOf(account.webAcl.arn), RedactedFields: [{ SingleHeader: { Name: 'x-origin-verify' } }] } }),
      )),
  },
  {
    checkId: 'waf.origin-verify',
    drift: 'the origin-verify rule accepts a value the rotation state does not allow',
    failingId: () => `waf.origin-verify:wafv2:REGIONAL/${account.webAcl.name}/origin-verify`,
    breakIt: () => validator(account.webAcl).accept([CURRENT, 'typed-in-by-hand']),
    repair: () => validator(account.webAcl).accept([CURRENT]),
  },
  {
    checkId: 'cloudfront.web-acl',
    drift: 'the distribution loses its web ACL',
    failingId: () => `cloudfront.web-acl:${account.distributionId}`,
    breakIt: () => updateDistribution(account.distributionId, (c) => void (c.WebACLId = '')),
    repair: () => updateDistribution(account.distributionId, (c) => void (c.WebACLId = account.cdnAclArn)),
  },
  {
    checkId: 'cloudfront.origin-tls',
    drift: 'the origin protocol becomes match-viewer',
    failingId: () => `cloudfront.origin-tls:${account.distributionId}`,
    breakIt: () => updateDistribution(account.distributionId, (c) => void (c.Origins!.Items![0].CustomOriginConfig!.OriginProtocolPolicy = 'match-viewer')),
    repair: () => updateDistribution(account.distributionId, (c) => void (c.Origins!.Items![0].CustomOriginConfig!.OriginProtocolPolicy = 'https-only')),
  },
  {
    checkId: 'cloudfront.origin-secret',
    drift: 'the CloudFront header is changed',
    failingId: () => `cloudfront.origin-secret:${account.distributionId}/cdn-to-gateway`,
    breakIt: () => updateDistribution(account.distributionId, (c) => void (c.Origins!.Items![0].CustomHeaders!.Items![0].HeaderValue = 'edited-in-console')),
    repair: () => updateDistribution(account.distributionId, (c) => void (c.Origins!.Items![0].CustomHeaders!.Items![0].HeaderValue = CURRENT)),
  },
  {
    checkId: 'cloudfront.viewer-protocol',
    drift: 'viewers are allowed plain HTTP',
    failingId: () => `cloudfront.viewer-protocol:${account.distributionId}`,
    breakIt: () => updateDistribution(account.distributionId, (c) => void (c.DefaultCacheBehavior!.ViewerProtocolPolicy = 'allow-all')),
    repair: () => updateDistribution(account.distributionId, (c) => void (c.DefaultCacheBehavior!.ViewerProtocolPolicy = 'redirect-to-https')),
  },
  {
    checkId: 'sg.open-ingress',
    drift: '0.0.0.0/0 is added on 443',
    failingId: () => `sg.open-ingress:${account.groupId}`,
    breakIt: async () => void (await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443('0.0.0.0/0')] }))),
    repair: async () => void (await ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443('0.0.0.0/0')] }))),
  },
  {
    checkId: 'sg.owned-rules',
    drift: 'an owned rule is revoked by hand',
    failingId: () => `sg.owned-rules:${account.groupId}/alb`,
    breakIt: async () => void (await ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443(OWNED[1])] }))),
    repair: async () =>
      void (await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443(OWNED[1], 'origin-guard:alb:static')] }))),
  },
  {
    checkId: 'sg.quota',
    drift: 'the group fills up with hand-made rules',
    failingId: () => `sg.quota:${account.groupId}`,
    breakIt: async () =>
      void (await ec2().send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, IpRanges: HAND_MADE.map((CidrIp) => ({ CidrIp })) }] }),
      )),
    repair: async () =>
      void (await ec2().send(
        new RevokeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, IpRanges: HAND_MADE.map((CidrIp) => ({ CidrIp })) }] }),
      )),
  },
  {
    checkId: 'peering.routes',
    drift: 'a default route is added through the peering',
    failingId: () => `peering.routes:${account.pcxId}/${account.peeringTableId}`,
    breakIt: async () => void (await ec2().send(new CreateRouteCommand({ RouteTableId: account.peeringTableId, DestinationCidrBlock: '0.0.0.0/0', VpcPeeringConnectionId: account.pcxId }))),
    repair: async () => void (await ec2().send(new DeleteRouteCommand({ RouteTableId: account.peeringTableId, DestinationCidrBlock: '0.0.0.0/0' }))),
  },
  {
    checkId: 'tgw.auto-accept',
    drift: 'the transit gateway starts auto-accepting shared attachments',
    failingId: () => `tgw.auto-accept:${account.tgwId}`,
    breakIt: async () => void (await ec2().send(new ModifyTransitGatewayCommand({ TransitGatewayId: account.tgwId, Options: { AutoAcceptSharedAttachments: 'enable' } }))),
    repair: async () => void (await ec2().send(new ModifyTransitGatewayCommand({ TransitGatewayId: account.tgwId, Options: { AutoAcceptSharedAttachments: 'disable' } }))),
  },
  {
    checkId: 'tgw.routes',
    drift: 'a broader CIDR is routed through the transit gateway',
    failingId: () => `tgw.routes:${account.attachmentId}/${account.tgwTableId}`,
    breakIt: async () => void (await ec2().send(new CreateRouteCommand({ RouteTableId: account.tgwTableId, DestinationCidrBlock: '172.16.0.0/12', TransitGatewayId: account.tgwId }))),
    repair: async () => void (await ec2().send(new DeleteRouteCommand({ RouteTableId: account.tgwTableId, DestinationCidrBlock: '172.16.0.0/12' }))),
  },
  {
    checkId: 'secret.rotation-enabled',
    drift: 'rotation is cancelled',
    failingId: () => `secret.rotation-enabled:${account.secretName}`,
    breakIt: async () => void (await clients.secretsManager().send(new CancelRotateSecretCommand({ SecretId: account.secretName }))),
    repair: () => enableRotation(account.secretName),
  },
  {
    checkId: 'secret.rotation-age',
    drift: 'forty days pass without a rotation',
    failingId: () => `secret.rotation-age:${account.secretName}`,
    breakIt: () => void (clockOffsetMs = 40 * 86_400_000),
    repair: () => void (clockOffsetMs = 0),
  },
  {
    checkId: 'secret.pending-stuck',
    drift: 'an AWSPENDING version is left for two hours',
    failingId: () => `secret.pending-stuck:${account.secretName}`,
    breakIt: async () => {
      await clients.secretsManager().send(new PutSecretValueCommand({ SecretId: account.secretName, SecretString: 'stuck-pending-value', VersionStages: ['AWSPENDING'] }));
      clockOffsetMs = 2 * 3_600_000;
    },
    repair: async () => {
      await enableRotation(account.secretName);
      clockOffsetMs = 0;
    },
  },
  {
    checkId: 'secret.overlap-window',
    drift: 'the overlap stays open two hours',
    failingId: () => `secret.overlap-window:${account.secretName}`,
    breakIt: async () => {
      const opened = new Date(Date.now() - 2 * 3_600_000).toISOString();
      await clients.secretsManager().send(
        new TagResourceCommand({ SecretId: account.secretName, Tags: [{ Key: TAG.OVERLAP_OPENED_AT, Value: opened }, { Key: TAG.OVERLAP_VERSION, Value: account.oldVersionId }] }),
      );
      await validator(account.webAcl).accept([CURRENT, OLD]);
    },
    repair: async () => {
      await clients.secretsManager().send(new UntagResourceCommand({ SecretId: account.secretName, TagKeys: [TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION] }));
      await validator(account.webAcl).accept([CURRENT]);
    },
  },
  {
    checkId: 'konnect.network',
    drift: 'the Konnect network goes offline',
    failingId: () => `konnect.network:konnect:${account.networkId}`,
    breakIt: () => konnect.setNetwork(konnectNetwork({ id: account.networkId, name: 'prod-network', state: 'offline' })),
    repair: () => konnect.setNetwork(konnectNetwork({ id: account.networkId, name: 'prod-network', state: 'ready' })),
  },
  {
    checkId: 'konnect.attachment',
    drift: 'the Konnect transit gateway attachment waits for acceptance',
    failingId: () => `konnect.attachment:konnect:${account.networkId}/${account.konnectAttachmentId}`,
    breakIt: () => konnect.setTransitGateways(account.networkId, [konnectTransitGateway({ id: account.konnectAttachmentId, name: 'to-aws', state: 'pending-acceptance' })]),
    repair: () => konnect.setTransitGateways(account.networkId, [konnectTransitGateway({ id: account.konnectAttachmentId, name: 'to-aws', state: 'ready' })]),
  },
  {
    checkId: 'probe.origin-without-header',
    drift: 'the origin serves requests without the header',
    failingId: () => 'probe.origin-without-header:probe:gateway',
    breakIt: () => void (originMode = 'no-header-allowed'),
    repair: () => void (originMode = 'enforcing'),
  },
  {
    checkId: 'probe.origin-wrong-value',
    drift: 'the origin accepts any header value',
    failingId: () => 'probe.origin-wrong-value:probe:gateway',
    breakIt: () => void (originMode = 'any-value'),
    repair: () => void (originMode = 'enforcing'),
  },
  {
    checkId: 'probe.through-cdn',
    drift: 'the CDN is refused',
    failingId: () => 'probe.through-cdn:probe:gateway',
    breakIt: () => void (cdnStatus = 403),
    repair: () => void (cdnStatus = 200),
  },
  {
    checkId: 'audit.read',
    drift: 'the audit may no longer read the web ACL',
    failingId: () => `audit.read:wafv2:REGIONAL/${account.webAcl.name}`,
    breakIt: () => {
      denied = injectFault(clients.wafv2('REGIONAL'), { command: 'GetWebACLCommand', error: () => serviceError('AccessDeniedException', 'not authorized to perform wafv2:GetWebACL') });
    },
    repair: () => denied?.remove(),
  },
];

const HAND_MADE = Array.from({ length: 8 }, (_, i) => `100.64.${i}.0/24`);
let denied: { remove(): void } | undefined;

/** Checks whose resource cannot come back once broken: failing and passing cases, but no repair. */
const oneWayChecks = ['peering.active', 'tgw.attachment'];

describe('audit against the emulator', () => {
  it('passes every check on a compliant account and sends nothing', async () => {
    const { result, failed, messages } = await audit();

    expect(failed).toEqual([]);
    expect(messages).toEqual([]);
    // This account has no S3 origin, no audit.origins and no watched rules: audit-attack-paths.test.ts covers those.
    const notConfiguredHere = ['cloudfront.s3-oac', 'origin.any-distribution', 'origin.vpc-origin-group', 'origin.vpc-origin-candidate', 'tgw.route-tables', 'watch.rules'];
    expect(new Set(result.findings.map((f) => f.checkId))).toEqual(new Set(ALL_CHECKS.map((c) => c.id).filter((id) => !notConfiguredHere.includes(id))));
  });

  it('covers every check with a failing and a passing case', () => {
    expect(new Set([...driftCases.map((c) => c.checkId), ...oneWayChecks, ...ATTACK_PATH_CHECK_IDS])).toEqual(new Set(ALL_CHECKS.map((c) => c.id)));
  });

  describe.each(driftCases)('$checkId', ({ checkId, drift, failingId, breakIt, repair }) => {
    it(`alerts once when ${drift}, stays quiet on the next audit, and alerts once on the repair`, async () => {
      const severity = ALL_CHECKS.find((c) => c.id === checkId)!.severity;
      await breakIt();
      try {
        const broken = await audit({ config: auditConfig });
        expect(broken.failed).toEqual([failingId()]);
        expect(broken.messages).toHaveLength(1);
        expect(broken.messages[0].subject).toMatch(new RegExp(`^\\[${severity}\\] DRIFT ${checkId.replace('.', '\\.')}: `));
        expect(broken.messages[0].subject!.length).toBeLessThan(100);
        expect(broken.messages[0].message).toContain(`Resource:`);
        expect(broken.messages[0].message).toContain(`"id": "${failingId()}"`);

        const again = await audit({ config: auditConfig });
        expect(again.failed).toEqual([failingId()]);
        expect(again.messages).toEqual([]);
      } finally {
        await repair();
      }

      const repaired = await audit();
      expect(repaired.failed).toEqual([]);
      expect(repaired.messages).toHaveLength(1);
      expect(repaired.messages[0].subject).toMatch(new RegExp(`^\\[${severity}\\] RESOLVED ${checkId.replace('.', '\\.')}: `));
      expect(repaired.messages[0].message).toContain(`"id": "${failingId()}"`);
    });
  });

  it('fails peering.active once a listed peering is deleted, and alerts once', async () => {
    const pcxId = (await ec2().send(new CreateVpcPeeringConnectionCommand({ VpcId: account.vpcId, PeerVpcId: account.peerVpcId }))).VpcPeeringConnection!.VpcPeeringConnectionId!;
    await ec2().send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcxId }));
    const withSecond = parseConfig({ ...rawConfig, audit: { ...rawConfig.audit, peerings: [...rawConfig.audit.peerings, { id: pcxId }] } });
    const before = await audit({ config: withSecond });
    expect(before.failed).toEqual([]);

    await ec2().send(new DeleteVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcxId }));
    const after = await audit({ config: withSecond });
    const again = await audit({ config: withSecond });

    expect(after.failed).toEqual([`peering.active:${pcxId}`]);
    expect(after.messages.map((m) => m.subject)).toEqual([expect.stringMatching(/^\[HIGH\] DRIFT peering\.active: /)]);
    expect(again.messages).toEqual([]);
  });

  it('fails tgw.attachment once a listed attachment is deleted, and alerts once', async () => {
    const subnetId = (await ec2().send(new CreateSubnetCommand({ VpcId: account.peerVpcId, CidrBlock: '192.168.200.0/24' }))).Subnet!.SubnetId!;
    const attachmentId = (await ec2().send(new CreateTransitGatewayVpcAttachmentCommand({ TransitGatewayId: account.tgwId, VpcId: account.peerVpcId, SubnetIds: [subnetId] })))
      .TransitGatewayVpcAttachment!.TransitGatewayAttachmentId!;
    const withSecond = parseConfig({ ...rawConfig, audit: { ...rawConfig.audit, transitGateways: [...rawConfig.audit.transitGateways, { attachmentId }] } });
    const before = await audit({ config: withSecond });
    expect(before.failed).toEqual([]);

    await ec2().send(new DeleteTransitGatewayVpcAttachmentCommand({ TransitGatewayAttachmentId: attachmentId }));
    const after = await audit({ config: withSecond });
    const again = await audit({ config: withSecond });

    expect(after.failed).toEqual([`tgw.attachment:${attachmentId}`]);
    expect(after.messages.map((m) => m.subject)).toEqual([expect.stringMatching(/^\[HIGH\] DRIFT tgw\.attachment: /)]);
    expect(again.messages).toEqual([]);
  });

  it("reads a target's rules once: its reconcile dry run shares the group read", async () => {
    const recorder = recordCalls(clients.ec2());
    try {
      const observed = await new AwsAuditCollector(config, { clients }).observe({ identifiers: [account.groupId] });

      expect(observed.securityGroupTargets.map((t) => [t.target.name, t.desired?.status !== undefined])).toEqual([['alb', true]]);
      expect(recorder.calls.filter((c) => c.command === 'DescribeSecurityGroupRulesCommand')).toHaveLength(1);
    } finally {
      recorder.remove();
    }
  });

  it('reads only the resources an event names', async () => {
    const observed = await new AwsAuditCollector(config, { clients }).observe({ identifiers: [account.groupId] });

    expect(observed.securityGroupTargets.map((t) => t.target.name)).toEqual(['alb']);
    expect(observed.webAcls).toEqual([]);
    expect(observed.distributions).toEqual([]);
    expect(observed.peerings).toEqual([]);
    expect(observed.probes).toEqual([]);
    expect(observed.konnectNetworks).toEqual([]);
  });
});

describe('audit scope of a prefix-list target', () => {
  it('reads the target whose prefix list an event names', async () => {
    const listId = 'pl-0123456789abcdef0';
    const withList = parseConfig({
      ...rawConfig,
      ipRanges: {
        targets: [
          ...rawConfig.ipRanges.targets,
          { name: 'alb-list', mode: 'prefix-list', prefixListIds: [listId], securityGroupIds: [account.groupId], ports: [443], ipVersions: ['ipv4'], sources: [{ type: 'static', cidrs: ['203.0.113.10/32'] }] },
        ],
      },
    });
    const previewReconcile = async () => {
      throw new Error('not needed here');
    };

    const observed = await new AwsAuditCollector(withList, { clients, previewReconcile }).observe({ identifiers: [listId] });

    expect(observed.securityGroupTargets.map((t) => t.target.name)).toEqual(['alb-list']);
  });
});

describe('audit of a group that references a prefix list', () => {
  it('weighs the reference by the list\'s MaxEntries for the quota check', async () => {
    const groupId = (await ec2().send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-plref'), Description: 'prefix list reference', VpcId: account.vpcId }))).GroupId!;
    const list = await ec2().send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-office'), AddressFamily: 'IPv4', MaxEntries: 50 }));
    const listId = list.PrefixList!.PrefixListId!;
    await ec2().send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: listId }] }] }),
    );
    const withGroup = parseConfig({
      ...rawConfig,
      ipRanges: { targets: [{ name: 'plref', securityGroupIds: [groupId], ports: [443], ipVersions: ['ipv4'], maxRulesPerGroup: 60, sources: [{ type: 'static', cidrs: ['203.0.113.10/32'] }] }] },
    });
    const previewReconcile = async () => {
      throw new Error('not needed here');
    };

    const observed = await new AwsAuditCollector(withGroup, { clients, previewReconcile }).observe({ identifiers: [groupId] });
    const findings = ALL_CHECKS.filter((c) => c.id === 'sg.quota').flatMap((c) => c.run(observed, new Date()));

    expect(observed.securityGroupTargets[0].groups[0].ingress).toEqual([expect.objectContaining({ prefixListId: listId, weight: 50 })]);
    expect(findings).toEqual([expect.objectContaining({ status: 'PASS', details: { used: 50, quota: 60, free: 10 } })]);
  });
});

describe('audit Lambda handler', () => {
  const cloudTrailEvent = (eventName: string, requestParameters: unknown, errorCode?: string) => ({
    version: '0',
    id: randomBytes(8).toString('hex'),
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.ec2',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail: { eventVersion: '1.08', eventSource: 'ec2.amazonaws.com', eventName, awsRegion: 'eu-west-1', requestParameters, ...(errorCode ? { errorCode } : {}) },
  });
  const scheduled = { version: '0', id: 'x', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date().toISOString(), region: 'eu-west-1', resources: [], detail: {} };

  async function loadHandler() {
    process.env.ORIGIN_GUARD_CONFIG_JSON = JSON.stringify(rawConfig);
    process.env.ALERT_TOPIC_ARN = account.topicArn;
    process.env.ALERT_STATE_TABLE = account.tableName;
    process.env.AWS_ENDPOINT_URL = motoEndpoint();
    return (await import('../../lambdas/handlers/audit.ts')).handler;
  }

  it('audits the security group a CloudTrail call names, alerts once, and resolves on the schedule', async () => {
    const handler = await loadHandler();
    const permission = { ipPermissions: { items: [{ ipProtocol: 'tcp', fromPort: 443, toPort: 443, ipRanges: { items: [{ cidrIp: '0.0.0.0/0' }] } }] } };
    await ec2().send(new AuthorizeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443('0.0.0.0/0')] }));
    await newMessages();

    const drift = await handler(cloudTrailEvent('AuthorizeSecurityGroupIngress', { groupId: account.groupId, ...permission }));
    await ec2().send(new RevokeSecurityGroupIngressCommand({ GroupId: account.groupId, IpPermissions: [ingress443('0.0.0.0/0')] }));
    const repaired = await handler(scheduled);
    const sent = await newMessages();

    expect(drift).toMatchObject({ trigger: 'ec2.amazonaws.com:AuthorizeSecurityGroupIngress', failedIds: [`sg.open-ingress:${account.groupId}`], alerts: 1 });
    // Only the group's checks ran: owned rules, open ingress, broad ingress, admin ports, quota, and whether the
    // group and its target could be read.
    expect(drift.findings).toBe(7);
    const mine = sent.filter((m) => m.subject?.includes('sg.open-ingress'));
    // The full run also closes the open alerts earlier tests of this file left in the shared table for resources
    // it no longer finds and the config does not name (lambdas/core/alerts.ts resolveRemovedItems).
    const others = sent.filter((m) => !m.subject?.includes('sg.open-ingress'));
    for (const m of others) expect(m.subject).toMatch(/RESOLVED .*no longer/);
    expect(repaired).toMatchObject({ trigger: 'all', failed: 0, alerts: 1 + others.length });
    expect(mine.map((m) => m.subject?.split(':')[0])).toEqual(['[CRITICAL] DRIFT sg.open-ingress', '[CRITICAL] RESOLVED sg.open-ingress']);
  });

  it('skips a CloudTrail call that failed, and refuses an event of another kind', async () => {
    const handler = await loadHandler();

    expect(await handler(cloudTrailEvent('AuthorizeSecurityGroupIngress', { groupId: account.groupId }, 'Client.UnauthorizedOperation'))).toMatchObject({ findings: 0, skipped: expect.any(String) });
    // Secrets Manager's RotationFailed (the stack routes it here): a full audit, not a crash.
    const rotationFailed = { version: '0', 'detail-type': 'AWS Service Event via CloudTrail', source: 'aws.secretsmanager', detail: { eventName: 'RotationFailed', eventSource: 'secretsmanager.amazonaws.com' } };
    expect((await handler(rotationFailed)).trigger).toBe('all');
    await expect(handler({ Records: [] })).rejects.toThrow(/Not an EventBridge schedule or CloudTrail/);
  });
});

describe('origin-guard audit (CLI)', () => {
  function capture(): CliContext & { out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, interactive: false };
  }

  it('prints the --json contract and writes SARIF 2.1.0, exiting 1 on a HIGH failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'og-audit-'));
    const configPath = join(dir, 'origin-guard.config.json');
    const sarifPath = join(dir, 'audit.sarif');
    writeFileSync(configPath, JSON.stringify(rawConfig));
    await clients.wafv2('REGIONAL').send(new DisassociateWebACLCommand({ ResourceArn: account.albArn }));
    const ctx = capture();

    let code: number;
    try {
      code = await runAuditCommand(['--config', configPath, '--json', '--sarif', sarifPath], ctx, { clients });
    } finally {
      await clients.wafv2('REGIONAL').send(new AssociateWebACLCommand({ WebACLArn: account.webAcl.arn, ResourceArn: account.albArn }));
    }

    expect(code).toBe(1);
    const json = JSON.parse(ctx.out.join('\n'));
    expect(Object.keys(json)).toEqual(['findings']);
    expect(Object.keys(json.findings[0])).toEqual(['id', 'severity', 'status', 'resource', 'message', 'remediation']);
    expect(json.findings[0]).toMatchObject({ id: `waf.associated:${account.albArn}`, status: 'FAIL', severity: 'HIGH' });
    expect(json.findings.filter((f: { status: string }) => f.status === 'FAIL')).toHaveLength(1);
    const sarif = JSON.parse(readFileSync(sarifPath, 'utf8'));
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(ALL_CHECKS.map((c) => c.id));
    expect(sarif.runs[0].results).toEqual([
      expect.objectContaining({
        ruleId: 'waf.associated',
        level: 'error',
        partialFingerprints: { 'originGuardFindingId/v1': `waf.associated:${account.albArn}` },
      }),
    ]);
    expect(readFileSync(sarifPath, 'utf8')).not.toContain(CURRENT);
  });

  it('prints only a summary line when everything passes, the table with --all, and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'og-audit-'));
    const configPath = join(dir, 'origin-guard.config.json');
    writeFileSync(configPath, JSON.stringify(rawConfig));
    const ctx = capture();
    const all = capture();

    const code = await runAuditCommand(['--config', configPath], ctx, { clients });
    const allCode = await runAuditCommand(['--config', configPath, '--all'], all, { clients });

    expect([code, allCode]).toEqual([0, 0]);
    expect(ctx.out.join('\n')).toMatch(/^\d+ findings, 0 failed \(0 high or critical\); \d+ passed \(--all lists them\)\.$/);
    const table = all.out.join('\n');
    expect(table.split('\n')[0]).toMatch(/^STATUS\s+SEVERITY\s+CHECK\s+RESOURCE\s+MESSAGE$/);
    expect(table).toMatch(/\d+ findings, 0 failed/);
    expect(table).not.toMatch(/audit\.read/);
  });

  it('--alert creates a missing state table and publishes like the Lambda', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'og-audit-'));
    const configPath = join(dir, 'origin-guard.config.json');
    const tableName = uniqueName('cli-alert-state');
    writeFileSync(configPath, JSON.stringify({ ...rawConfig, alerts: { ...rawConfig.alerts, stateTableName: tableName } }));
    await ec2().send(new ModifyTransitGatewayCommand({ TransitGatewayId: account.tgwId, Options: { AutoAcceptSharedAttachments: 'enable' } }));
    await newMessages();
    const ctx = capture();

    let code: number;
    try {
      code = await runAuditCommand(['--config', configPath, '--alert'], ctx, { clients });
    } finally {
      await ec2().send(new ModifyTransitGatewayCommand({ TransitGatewayId: account.tgwId, Options: { AutoAcceptSharedAttachments: 'disable' } }));
    }

    expect(code).toBe(1);
    expect(ctx.err.join('\n')).toContain(`created the alert state table ${tableName}`);
    const sent = await newMessages();
    expect(sent.map((m) => m.subject?.split(':')[0])).toEqual(['[HIGH] DRIFT tgw.auto-accept']);
  });
});

describe('what the topic delivered', () => {
  it('delivers each alert once to a second subscriber, exactly as the audit published it, none with a secret value', async () => {
    // A subscriber of its own, made by this test: it reads what the topic delivered from now on, and nothing
    // that other tests left behind.
    const ownQueue = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('alerts-witness') }))).QueueUrl!;
    const ownArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: ownQueue, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    await clients.sns().send(new SubscribeCommand({ TopicArn: account.topicArn, Protocol: 'sqs', Endpoint: ownArn }));

    originMode = 'any-value';
    let broken: Awaited<ReturnType<typeof audit>>;
    try {
      broken = await audit();
    } finally {
      originMode = 'enforcing';
    }
    const repaired = await audit();

    const published = [...broken.messages, ...repaired.messages];
    expect(published.map((m) => m.subject)).toEqual([
      expect.stringMatching(/^\[\w+\] DRIFT probe\.origin-wrong-value: /),
      expect.stringMatching(/^\[\w+\] RESOLVED probe\.origin-wrong-value: /),
    ]);
    const delivered: Array<{ subject?: string; message: string }> = [];
    for (let round = 0; round < 10 && delivered.length < published.length; round += 1) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: ownQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      for (const m of Messages) {
        const envelope = JSON.parse(m.Body!) as { Subject?: string; Message: string };
        delivered.push({ subject: envelope.Subject, message: envelope.Message });
      }
    }
    expect(delivered).toEqual(published);
    for (const secretValue of [CURRENT, OLD]) expect(JSON.stringify(delivered)).not.toContain(secretValue);
  });
});
