import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { grantAdoptedKeyDecrypt } from './adopted-key.ts';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { readersMaxStaleSeconds, ROTATION_TIMEOUT_MARGIN_SECONDS, slowestValidatorWaitSeconds } from '../lambdas/config.ts';
import { verifierStaleAlarmName } from '../lambdas/adapters/reader-health-cloudwatch.ts';
import { VERIFIER_METRIC } from '../lambdas/verifier/index.ts';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { inHubAccount } from '../lambdas/accounts.ts';
import type { Config, SecretConfig } from '../lambdas/config.ts';
import { distributionArn, unique, webAclArn, wafReferencedResourceArns, type WafScope } from './arns.ts';
import { throwIfProblems } from './errors.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { DEFAULT_HANDLERS_DIR, HANDLER_SDK_CLIENTS, OriginGuardFunction, type PowertoolsLogLevel } from './function.ts';

/** The DynamoDB calls of the lease adapter: conditional put, consistent get, conditional update and delete. */
export const LEASE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'] as const;

export interface SecretRotationProps {
  /** The validated configuration; `secrets` must not be empty. Embedded into both functions. */
  readonly config: Config;
  readonly alertTopic: sns.ITopic;
  readonly alertStateTable: dynamodb.ITable;
  /**
   * Rotate each secret as soon as it is deployed. Off by default: the first rotation changes what CloudFront,
   * the WAF and Kong send and accept, so an operator starts it (`origin-guard rotate`) once the stack and the
   * targets are ready; afterwards Secrets Manager rotates every `rotationDays`.
   * @default false
   */
  readonly rotateImmediately?: boolean;
  /**
   * How often the retire function looks for overlaps that may close.
   * @default Duration.minutes(5)
   */
  readonly retireInterval?: Duration;
  /**
   * What happens to the secrets and their keys when the stack is deleted.
   * @default RemovalPolicy.RETAIN: CloudFront, the WAF and Kong still use the values
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Directory holding `rotate.ts` and `retire.ts`. @default lambdas/handlers of this package */
  readonly handlersDir?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /** X-Ray active tracing of the functions. @default false */
  readonly tracing?: boolean;
}

/** One rotated origin-verify secret and its key. */
export interface RotatedSecret {
  readonly config: SecretConfig;
  /** The secret's KMS key: created, or (adoptRetained) the retained one. */
  readonly key: kms.IKey;
  readonly secret: secretsmanager.ISecret;
  readonly schedule: secretsmanager.RotationSchedule;
}

/**
 * The origin-verify secrets and what rotates them.
 *
 * Per configured secret: a customer managed KMS key (rotation on), the Secrets Manager secret named
 * `secretName` (its value is the header value; the initial one is a random 64-character alphanumeric
 * string) and a rotation schedule every `rotationDays` calling the rotation function
 * (`lambdas/handlers/rotate.ts`), which performs Secrets Manager's four steps. The retire function
 * (`lambdas/handlers/retire.ts`) runs every `retireInterval` and closes overlaps whose senders have
 * propagated.
 *
 * Both functions are writers serialized per secret by a lease in the alert-state table (items `lease:secret:*`,
 * no reserved concurrency: rotations of different secrets never throttle each other). The rotation function's
 * timeout is the slowest configured validator wait plus ROTATION_TIMEOUT_MARGIN_SECONDS, checked here. Their IAM is limited to the configured secrets,
 * distributions (`cloudfront:GetDistribution`, `GetDistributionConfig`, and `UpdateDistribution` for the
 * rotation only), web ACLs (`wafv2:GetWebACL`, `UpdateWebACL`; CLOUDFRONT scope in us-east-1, REGIONAL in
 * the home region) and the Kong / Konnect token secrets named by `tokenSecretName`. Other principals (Kong's
 * `aws` vault, upstreams using the verifier) get read access with `grantRead`.
 */
export class SecretRotation extends Construct {
  public readonly secrets: RotatedSecret[];
  public readonly rotationFunction: OriginGuardFunction;
  public readonly retireFunction: OriginGuardFunction;
  public readonly retireRule: events.Rule;
  /** Per secret with `secretsmanager-readers`: its verifiers' refresh age passed `maxStaleSeconds`. */
  public readonly verifierStaleAlarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: SecretRotationProps) {
    super(scope, id);
    const { config } = props;
    const retireInterval = props.retireInterval ?? Duration.minutes(5);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const handlersDir = props.handlersDir ?? DEFAULT_HANDLERS_DIR;
    const problems: string[] = [];
    if (config.secrets.length === 0) problems.push('config.secrets must list at least one secret');
    const intervalSeconds = retireInterval.toSeconds();
    if (intervalSeconds < 60 || intervalSeconds % 60 !== 0) problems.push('retireInterval must be a whole number of minutes, at least one');
    config.secrets.forEach((s, i) => {
      if (!Number.isInteger(s.rotationDays) || s.rotationDays < 1) problems.push(`secrets[${i}].rotationDays must be a whole number of days, at least 1`);
    });
    throwIfProblems(`SecretRotation ${this.node.path}`, problems);

    // testSecret waits out the slowest validator inside one invocation, then reads back, probes, and may roll back.
    const slowestWait = Math.max(0, ...config.secrets.map((s) => slowestValidatorWaitSeconds(s)));
    const rotationTimeoutSeconds = slowestWait + ROTATION_TIMEOUT_MARGIN_SECONDS;
    if (rotationTimeoutSeconds > 900) {
      throwIfProblems(`SecretRotation ${this.node.path}`, [
        `the slowest validator wait (${slowestWait} s) plus ${ROTATION_TIMEOUT_MARGIN_SECONDS} s for read-backs, probes and rollback exceeds the Lambda maximum of 900 s`,
      ]);
    }

    const common = {
      config,
      alertTopic: props.alertTopic,
      alertStateTable: props.alertStateTable,
      writer: true,
      serializedByLease: true,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      tracing: props.tracing,
    };
    this.rotationFunction = new OriginGuardFunction(this, 'RotationFunction', {
      ...common,
      entry: join(handlersDir, 'rotate.ts'),
      bundledSdkClients: HANDLER_SDK_CLIENTS.rotate,
      description: 'origin-guard: rotates origin-verify secrets (Secrets Manager createSecret/setSecret/testSecret/finishSecret)',
      serviceName: 'origin-guard-rotation',
      timeout: Duration.seconds(rotationTimeoutSeconds),
    });
    this.retireFunction = new OriginGuardFunction(this, 'RetireFunction', {
      ...common,
      entry: join(handlersDir, 'retire.ts'),
      bundledSdkClients: HANDLER_SDK_CLIENTS.retire,
      description: 'origin-guard: closes rotation overlaps once every sender has propagated',
      serviceName: 'origin-guard-retire',
      // Shorter than the interval, so one run ends before the next starts (a run that overlaps finds the lease held).
      timeout: Duration.minutes(Math.max(1, Math.min(4, retireInterval.toMinutes() - 1))),
    });

    this.secrets = config.secrets.map((secretConfig) => this.addSecret(secretConfig, props, removalPolicy));
    this.grantLeases(props.alertStateTable);
    this.addVerifierStaleAlarms(config, props.alertTopic);
    this.grantTargets(config);

    this.retireRule = new events.Rule(this, 'RetireSchedule', {
      description: `origin-guard: retire overlapped secret values every ${retireInterval.toHumanString()}`,
      schedule: events.Schedule.rate(retireInterval),
    });
    this.retireRule.addTarget(
      new targets.LambdaFunction(this.retireFunction.function, {
        deadLetterQueue: this.retireFunction.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: retireInterval,
      }),
    );

    const policy = this.rotationFunction.policy;
    if (policy) {
      acknowledgeWildcardResource(
        policy,
        '*',
        'Only secretsmanager:GetRandomPassword, added by the CDK rotation schedule: it supports no resource-level permissions, returns random bytes and reads no secret.',
      );
    }
  }

  /** Lets `grantee` (Kong's vault role, an upstream) read the value of the secret named `name` in the config, or of every secret. */
  grantRead(grantee: iam.IGrantable, name?: string): void {
    for (const s of this.secrets) {
      if (name === undefined || s.config.name === name) {
        s.secret.grantRead(grantee);
        grantAdoptedKeyDecrypt(s.secret, grantee);
      }
    }
  }

  private addSecret(secretConfig: SecretConfig, props: SecretRotationProps, removalPolicy: RemovalPolicy): RotatedSecret {
    const scope = new Construct(this, secretConfig.name);
    const adopted = secretConfig.adoptRetained;
    // After `cdk destroy` the secret and its key stay (RETAIN) and keep the fixed name: a redeploy adopts them
    // by ARN (config `adoptRetained`) instead of creating a secret whose name collides.
    const key: kms.IKey = adopted
      ? kms.Key.fromKeyArn(scope, 'Key', adopted.kmsKeyArn)
      : new kms.Key(scope, 'Key', {
          description: `origin-guard secret ${secretConfig.secretName}`,
          enableKeyRotation: true,
          removalPolicy,
        });
    const secret: secretsmanager.ISecret = adopted
      ? secretsmanager.Secret.fromSecretAttributes(scope, 'Secret', { secretCompleteArn: adopted.secretArn, encryptionKey: key })
      : new secretsmanager.Secret(scope, 'Secret', {
          secretName: secretConfig.secretName,
          description: `origin-guard: ${secretConfig.headerName} value (${secretConfig.name}); rotated every ${secretConfig.rotationDays} days`,
          encryptionKey: key,
          removalPolicy,
          // The value is sent as an HTTP header: letters and digits only.
          generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        });
    // Grants DescribeSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage and the key to the rotation function.
    const schedule = secret.addRotationSchedule('RotationSchedule', {
      rotationLambda: this.rotationFunction.function,
      automaticallyAfter: Duration.days(secretConfig.rotationDays),
      rotateImmediatelyOnUpdate: props.rotateImmediately ?? false,
    });
    // The rotation state lives in the secret's tags and stages (lambdas/core/rotation-state.ts).
    const stateActions = ['secretsmanager:TagResource', 'secretsmanager:UntagResource', 'secretsmanager:ListSecretVersionIds'];
    this.rotationFunction.addToRolePolicy(new iam.PolicyStatement({ actions: stateActions, resources: [secret.secretArn] }));
    secret.grantRead(this.retireFunction.grantPrincipal);
    if (adopted) {
      // An imported key's policy cannot be changed here (CDK drops the grants it would add to it): grant the key
      // in the roles instead, only through Secrets Manager. The retained key's policy trusts the account (CDK default).
      const viaSecretsManager = { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } };
      this.rotationFunction.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [adopted.kmsKeyArn], conditions: viaSecretsManager }),
      );
      grantAdoptedKeyDecrypt(secret, this.retireFunction.grantPrincipal);
    }
    this.retireFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...stateActions, 'secretsmanager:UpdateSecretVersionStage'],
        resources: [secret.secretArn],
      }),
    );
    return { config: secretConfig, key, secret, schedule };
  }

  /**
   * One alarm per secret read by upstream verifiers: the maximum `VerifierRefreshAgeSeconds` (EMF from
   * lambdas/verifier, dimension `Secret` = the secret name the verifier reads) above `maxStaleSeconds`. Missing
   * data is not breaching (no verifier reports, or none has traffic). The rotation function reads the alarm
   * and does not start while it is in ALARM.
   */
  private addVerifierStaleAlarms(config: Config, topic: sns.ITopic): void {
    const arns: string[] = [];
    for (const secret of config.secrets) {
      const readers = secret.validators.find((v) => v.type === 'secretsmanager-readers');
      if (!readers || readers.type !== 'secretsmanager-readers') continue;
      const maxStale = readersMaxStaleSeconds(readers);
      const alarm = new cloudwatch.Alarm(this, `VerifierStale-${secret.name}`, {
        alarmName: readers.staleAlarmName ?? verifierStaleAlarmName(secret.name),
        alarmDescription: `origin-guard: an upstream verifier of ${secret.secretName} has not refreshed for more than ${maxStale} s; rotations of ${secret.name} do not start until it recovers`,
        metric: new cloudwatch.Metric({
          namespace: VERIFIER_METRIC.namespace,
          metricName: VERIFIER_METRIC.name,
          dimensionsMap: { [VERIFIER_METRIC.dimension]: secret.secretName },
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: maxStale,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new cwActions.SnsAction(topic));
      alarm.addOkAction(new cwActions.SnsAction(topic));
      this.verifierStaleAlarms.push(alarm);
      arns.push(alarm.alarmArn);
    }
    if (arns.length > 0) {
      this.rotationFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: arns }));
    }
  }

  /** The secret leases (lambdas/adapters/lease-dynamodb.ts): only items whose key starts with `lease:secret:`. */
  private grantLeases(table: dynamodb.ITable): void {
    for (const fn of [this.rotationFunction, this.retireFunction]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [...LEASE_ACTIONS],
          resources: [table.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lease:secret:*'] } },
        }),
      );
    }
  }

  /** Senders and validators of every secret: the distributions, web ACLs and token secrets they name. */
  private grantTargets(config: Config): void {
    const distributions: string[] = [];
    const webAcls = new Map<WafScope, string[]>();
    const tokenSecrets: string[] = [];
    for (const s of config.secrets) {
      for (const sender of s.senders) {
        // Senders and validators of other accounts and regions act through their spoke roles.
        if (sender.type === 'cloudfront' && inHubAccount(config, sender)) distributions.push(distributionArn(this, sender.distributionId));
        if (sender.type === 'kong-vault' && sender.tokenSecretName) tokenSecrets.push(sender.tokenSecretName);
        if (sender.type === 'kong-vault' && sender.vaultTokenSecretName) tokenSecrets.push(sender.vaultTokenSecretName);
      }
      for (const validator of s.validators) {
        if (validator.type === 'wafv2' && inHubAccount(config, validator)) {
          const list = webAcls.get(validator.scope) ?? [];
          list.push(webAclArn(this, { scope: validator.scope, name: validator.webAclName, id: validator.webAclId }));
          webAcls.set(validator.scope, list);
        }
        if (validator.type === 'kong-route' && validator.tokenSecretName) tokenSecrets.push(validator.tokenSecretName);
      }
    }

    const fns = [this.rotationFunction, this.retireFunction];
    if (distributions.length > 0) {
      const arns = unique(distributions);
      // Both read a distribution's state (Deployed, headers); only the rotation changes it.
      for (const fn of fns) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['cloudfront:GetDistribution', 'cloudfront:GetDistributionConfig'], resources: arns }),
        );
      }
      this.rotationFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ['cloudfront:UpdateDistribution'], resources: arns }));
    }
    for (const [wafScope, arns] of webAcls) {
      const referenced = wafReferencedResourceArns(this, wafScope);
      for (const fn of fns) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['wafv2:GetWebACL', 'wafv2:UpdateWebACL'], resources: unique(arns) }),
        );
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['wafv2:UpdateWebACL'], resources: referenced }));
        const policy = fn.policy;
        if (!policy) continue;
        for (const arn of referenced) {
          acknowledgeWildcardResource(
            policy,
            arn,
            "wafv2:UpdateWebACL only: AWS authorises UpdateWebACL on every rule group, managed rule group, IP set and regex pattern set the web ACL references. The rotation keeps the ACL's other rules, whose references are unknown at synth time; this does not allow changing those resources (UpdateRuleGroup/UpdateIPSet/UpdateRegexPatternSet are not granted).",
          );
        }
      }
    }
    for (const fn of fns) fn.grantReadSecretsByName(tokenSecrets);
  }
}
