import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { WAFV2Client } from '@aws-sdk/client-wafv2';

/** Settings shared by every client; the SDK itself honours AWS_ENDPOINT_URL (the emulator). */
export interface ClientSettings {
  region: string;
  endpoint?: string;
  /** Static credentials, or a provider (assumed-role credentials of another account: account-clients.ts). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | CredentialsProvider;
  maxAttempts?: number;
}

type CredentialsProvider = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>;

/** CloudFront's control plane and CLOUDFRONT-scope WAF live in us-east-1 whatever the home region. */
export const GLOBAL_REGION = 'us-east-1';

type ClientConfig = { region: string; maxAttempts: number; endpoint?: string; credentials?: ClientSettings['credentials'] };
type Ctor<T> = new (config: ClientConfig) => T;

/**
 * The SDK client classes a process may use. A Lambda passes only the ones it needs, so its bundle and its
 * cold start load no other client (EC2's alone is 1.4 MB); the CLI and tests pass them all (all-clients.ts).
 */
export interface ClientConstructors {
  SecretsManagerClient?: Ctor<SecretsManagerClient>;
  CloudFrontClient?: Ctor<CloudFrontClient>;
  WAFV2Client?: Ctor<WAFV2Client>;
  EC2Client?: Ctor<EC2Client>;
  ElasticLoadBalancingV2Client?: Ctor<ElasticLoadBalancingV2Client>;
  SNSClient?: Ctor<SNSClient>;
  DynamoDBClient?: Ctor<DynamoDBClient>;
  CloudFormationClient?: Ctor<CloudFormationClient>;
  EventBridgeClient?: Ctor<EventBridgeClient>;
  SecurityHubClient?: Ctor<SecurityHubClient>;
  CloudWatchClient?: Ctor<CloudWatchClient>;
}

/**
 * Lazily created, cached SDK clients. Lambdas build one at module scope (once per cold start); the CLI one
 * per run. Only the clients a run uses are constructed.
 */
export class AwsClients {
  private readonly cache = new Map<string, unknown>();
  constructor(
    readonly settings: ClientSettings,
    readonly constructors: ClientConstructors,
  ) {}

  private get<K extends keyof ClientConstructors>(name: K, region = this.settings.region): InstanceType<NonNullable<ClientConstructors[K]>> {
    const key = `${name}:${region}`;
    let client = this.cache.get(key);
    if (!client) {
      const Client = this.constructors[name] as Ctor<unknown> | undefined;
      if (!Client) throw new Error(`${name} is not available in this process (not passed to AwsClients)`);
      const { endpoint, credentials, maxAttempts } = this.settings;
      client = new Client({ region, maxAttempts: maxAttempts ?? 5, ...(endpoint ? { endpoint } : {}), ...(credentials ? { credentials } : {}) });
      this.cache.set(key, client);
    }
    return client as InstanceType<NonNullable<ClientConstructors[K]>>;
  }

  /**
   * Makes a client class available after construction: a client loaded on first use (on-demand-clients.ts).
   * A class given already (the CLI's, a test's instrumented one) is kept. The account clients of a process
   * share these constructors, so one load serves every account-region.
   */
  provide<K extends keyof ClientConstructors>(name: K, Client: NonNullable<ClientConstructors[K]>): void {
    this.constructors[name] ??= Client;
  }

  secretsManager(): SecretsManagerClient {
    return this.get('SecretsManagerClient');
  }
  cloudFront(): CloudFrontClient {
    return this.get('CloudFrontClient', GLOBAL_REGION);
  }
  wafv2(scope: 'REGIONAL' | 'CLOUDFRONT'): WAFV2Client {
    return this.get('WAFV2Client', scope === 'CLOUDFRONT' ? GLOBAL_REGION : this.settings.region);
  }
  ec2(): EC2Client {
    return this.get('EC2Client');
  }
  elbv2(): ElasticLoadBalancingV2Client {
    return this.get('ElasticLoadBalancingV2Client');
  }
  sns(region = this.settings.region): SNSClient {
    return this.get('SNSClient', region);
  }
  dynamoDb(): DynamoDBClient {
    return this.get('DynamoDBClient');
  }
  cloudFormation(): CloudFormationClient {
    return this.get('CloudFormationClient');
  }
  eventBridge(): EventBridgeClient {
    return this.get('EventBridgeClient');
  }
  securityHub(): SecurityHubClient {
    return this.get('SecurityHubClient');
  }
  cloudWatch(): CloudWatchClient {
    return this.get('CloudWatchClient');
  }
}
