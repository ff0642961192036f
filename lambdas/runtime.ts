/**
 * What every Lambda builds once per cold start: the validated embedded config, SDK clients, the logger and
 * the alert publisher. Lazy so that importing a handler in a test does not need the Lambda environment.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { loadEmbeddedConfig, type Config, type SecretConfig } from './config.ts';
import { AwsClients, type ClientConstructors } from './adapters/aws-clients.ts';
import { reportConsoleUrl } from './core/report-link.ts';
import { SnsAlertPublisher } from './adapters/sns-alerts.ts';
import { createLogger } from './logger.ts';
import type { AlertPort } from './core/ports.ts';

export interface LambdaRuntime {
  config: Config;
  clients: AwsClients;
  logger: Logger;
  alerts?: AlertPort;
}

const runtimes = new Map<string, LambdaRuntime>();

/**
 * The variables the stack sets on every function (lib/function.ts). Deployed (AWS_LAMBDA_FUNCTION_NAME is set),
 * a missing one is a broken deployment: fail before any AWS call rather than fall back to the embedded config.
 */
export const REQUIRED_LAMBDA_ENVIRONMENT = ['ALERT_TOPIC_ARN', 'ALERT_STATE_TABLE'] as const;

/** A variable the deployed function needs is not set; nothing was read or changed. */
export class MissingEnvironmentError extends Error {
  override name = 'MissingEnvironmentError';
  constructor(readonly variable: string, readonly functionName: string) {
    super(`${functionName}: environment variable ${variable} is not set; the stack sets it on every origin-guard function, so redeploy the stack (cdk deploy) instead of editing the function's configuration by hand`);
  }
}

/** Throws MissingEnvironmentError for the first required variable that is missing, when running as a Lambda. */
export function requireLambdaEnvironment(env: NodeJS.ProcessEnv = process.env, required: readonly string[] = REQUIRED_LAMBDA_ENVIRONMENT): void {
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  if (!functionName) return;
  for (const variable of required) {
    if (!env[variable]) throw new MissingEnvironmentError(variable, functionName);
  }
}

/** `clients` names the SDK client classes this function uses: only those are bundled and loaded. */
export function lambdaRuntime(serviceName: string, clientClasses: ClientConstructors): LambdaRuntime {
  let runtime = runtimes.get(serviceName);
  if (!runtime) {
    requireLambdaEnvironment();
    const config = loadEmbeddedConfig();
    const clients = new AwsClients({ region: config.region }, clientClasses);
    const topicArn = process.env.ALERT_TOPIC_ARN ?? config.alerts.topicArn;
    runtime = {
      config,
      clients,
      logger: createLogger(serviceName),
      alerts: topicArn ? new SnsAlertPublisher(
            clients.sns(topicArn.split(':')[3]),
            topicArn,
            undefined,
            config.alerts.format,
            config.report ? reportConsoleUrl(config.report, config.region) : undefined,
          ) : undefined,
    };
    runtimes.set(serviceName, runtime);
  }
  return runtime;
}

/** The configured secret for a SecretId (name or ARN, whose name part ends with `-` and 6 random characters). */
export function findSecretConfig(config: Config, secretId: string): SecretConfig {
  const name = secretId.startsWith('arn:') ? secretId.split(':secret:')[1]?.replace(/-[A-Za-z0-9]{6}$/, '') : secretId;
  const secret = config.secrets.find((s) => s.secretName === name || s.name === name);
  if (!secret) {
    throw new Error(`Secret ${secretId} is not configured in origin-guard (known: ${config.secrets.map((s) => s.secretName).join(', ') || 'none'})`);
  }
  return secret;
}
