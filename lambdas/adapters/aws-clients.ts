import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';

/** Settings shared by every client; the SDK itself honours AWS_ENDPOINT_URL (the emulator). */
export interface ClientSettings {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
}

/** CloudFront's control plane and CLOUDFRONT-scope WAF live in us-east-1 whatever the home region. */
export const GLOBAL_REGION = 'us-east-1';

/**
 * Lazily created, cached SDK clients. Lambdas build one at module scope (once per cold start); the CLI one
 * per run. Only the clients a run uses are constructed.
 */
export class AwsClients {
  private readonly cache = new Map<string, unknown>();
  constructor(readonly settings: ClientSettings) {}

  private get<T>(key: string, make: () => T): T {
    let client = this.cache.get(key) as T | undefined;
    if (!client) {
      client = make();
      this.cache.set(key, client);
    }
    return client;
  }

  private config(region = this.settings.region) {
    const { endpoint, credentials, maxAttempts } = this.settings;
    return { region, maxAttempts: maxAttempts ?? 5, ...(endpoint ? { endpoint } : {}), ...(credentials ? { credentials } : {}) };
  }

  secretsManager(): SecretsManagerClient {
    return this.get('secretsmanager', () => new SecretsManagerClient(this.config()));
  }
  cloudFront(): CloudFrontClient {
    return this.get('cloudfront', () => new CloudFrontClient(this.config(GLOBAL_REGION)));
  }
  wafv2(scope: 'REGIONAL' | 'CLOUDFRONT'): WAFV2Client {
    const region = scope === 'CLOUDFRONT' ? GLOBAL_REGION : this.settings.region;
    return this.get(`wafv2:${region}`, () => new WAFV2Client(this.config(region)));
  }
  ec2(): EC2Client {
    return this.get('ec2', () => new EC2Client(this.config()));
  }
  elbv2(): ElasticLoadBalancingV2Client {
    return this.get('elbv2', () => new ElasticLoadBalancingV2Client(this.config()));
  }
  sns(region = this.settings.region): SNSClient {
    return this.get(`sns:${region}`, () => new SNSClient(this.config(region)));
  }
  dynamoDb(): DynamoDBClient {
    return this.get('dynamodb', () => new DynamoDBClient(this.config()));
  }
  cloudFormation(): CloudFormationClient {
    return this.get('cloudformation', () => new CloudFormationClient(this.config()));
  }
}
