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

/** `clients` names the SDK client classes this function uses: only those are bundled and loaded. */
export function lambdaRuntime(serviceName: string, clientClasses: ClientConstructors): LambdaRuntime {
  let runtime = runtimes.get(serviceName);
  if (!runtime) {
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
