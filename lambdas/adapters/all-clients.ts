import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import { AwsClients, type ClientSettings } from './aws-clients.ts';

/** Every client: for the CLI, the demo, tests and benchmarks (not for Lambdas, which pass only what they use). */
export function allAwsClients(settings: ClientSettings): AwsClients {
  return new AwsClients(settings, {
    CloudFormationClient,
    CloudFrontClient,
    CloudWatchClient,
    DynamoDBClient,
    EC2Client,
    ElasticLoadBalancingV2Client,
    EventBridgeClient,
    SecretsManagerClient,
    SecurityHubClient,
    SNSClient,
    WAFV2Client,
  });
}
