import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { AlertsConfig } from '../lambdas/config.ts';
import { throwIfProblems } from './errors.ts';

/** Output names the CLI reads from the deployed stack (see issue 5): do not rename. */
export const OUTPUT = {
  ALERT_TOPIC_ARN: 'AlertTopicArn',
  ALERT_STATE_TABLE_NAME: 'AlertStateTableName',
} as const;

/**
 * What the functions that deduplicate alerts (the audit and the reconciler) may do on the state table: the
 * calls of lambdas/adapters/alert-state-dynamodb.ts.
 */
export const ALERT_STATE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:DescribeTable'] as const;

export interface AlertsProps {
  /** `alerts` of the configuration: an existing topic / table to use, and the e-mail subscribers. */
  readonly config: AlertsConfig;
  /**
   * What happens to the topic key and the state table when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where every origin-guard alert goes: an SNS topic (drift found and resolved, rotation and reconcile
 * failures, CloudWatch alarms) and the DynamoDB table that remembers which findings already alerted.
 *
 * The topic is the stack's own, encrypted with a customer managed key (rotation on) and refusing non-TLS
 * requests, unless `alerts.topicArn` names an existing one; the table likewise unless `alerts.stateTableName`
 * is set. The e-mail addresses of `alerts.emails` are subscribed either way (each must confirm).
 * An imported topic keeps its own encryption: if it uses a customer managed key, that key's policy must let
 * the functions' roles and `cloudwatch.amazonaws.com` use it.
 */
export class Alerts extends Construct {
  public readonly topic: sns.ITopic;
  /** The customer managed key of the stack's own topic; undefined for an imported topic. */
  public readonly topicKey?: kms.Key;
  public readonly stateTable: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const { config } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const problems: string[] = [];
    const emails = new Set<string>();
    for (const email of config.emails) {
      if (emails.has(email.toLowerCase())) problems.push(`alerts.emails: "${email}" is listed more than once`);
      emails.add(email.toLowerCase());
    }
    throwIfProblems(`Alerts ${this.node.path}`, problems);

    if (config.topicArn) {
      this.topic = sns.Topic.fromTopicArn(this, 'Topic', config.topicArn);
    } else {
      const key = new kms.Key(this, 'TopicKey', {
        description: 'origin-guard alerts topic',
        enableKeyRotation: true,
        removalPolicy,
      });
      // CloudWatch alarms publish to the topic as the CloudWatch service, which must use the key.
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      );
      const topic = new sns.Topic(this, 'Topic', {
        displayName: 'origin-guard alerts',
        masterKey: key,
        enforceSSL: true,
      });
      // Only this account's alarms may publish as CloudWatch.
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      );
      this.topicKey = key;
      this.topic = topic;
    }
    for (const email of config.emails) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    if (config.stateTableName) {
      this.stateTable = dynamodb.Table.fromTableName(this, 'StateTable', config.stateTableName);
    } else {
      this.stateTable = new dynamodb.Table(this, 'StateTable', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        // Items expire by their `ttl` (epoch seconds): leases (lambdas/adapters/lease-dynamodb.ts) and resolved
        // alert states (lambdas/adapters/alert-state-dynamodb.ts), so rows of removed items do not stay forever.
        timeToLiveAttribute: 'ttl',
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        removalPolicy,
      });
    }

    new CfnOutput(Stack.of(this), OUTPUT.ALERT_TOPIC_ARN, {
      value: this.topic.topicArn,
      description: 'SNS topic receiving origin-guard alerts (the CLI reads it)',
    });
    new CfnOutput(Stack.of(this), OUTPUT.ALERT_STATE_TABLE_NAME, {
      value: this.stateTable.tableName,
      description: 'DynamoDB table of alert states (the CLI reads it)',
    });
  }
}
