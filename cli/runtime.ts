import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfigFile, resolveConfigPath, type Config } from '../lambdas/config.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { allAwsClients } from '../lambdas/adapters/all-clients.ts';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SnsAlertPublisher } from '../lambdas/adapters/sns-alerts.ts';
import type { AlertPort } from '../lambdas/core/ports.ts';
import { hostname } from 'node:os';
import { leaseOwner, type LeasePort } from '../lambdas/core/lease.ts';
import { DynamoDbLeases } from '../lambdas/adapters/lease-dynamodb.ts';
import { UsageError } from './context.ts';
import { configForAccount } from '../lambdas/accounts.ts';

/** Flags every command takes. */
export const commonOptions = {
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  /** Only the items of one account of `accounts` (several accounts and regions). */
  account: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** parseArgs with the common flags; unknown flags become a UsageError naming them. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function loadCliConfig(flag: string | undefined, env: NodeJS.ProcessEnv, account?: string): Config {
  const config = loadConfigFile(resolveConfigPath(flag, env));
  if (account === undefined) return config;
  try {
    return configForAccount(config, account);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Clients for the configured account; AWS_ENDPOINT_URL (read by the SDK) points them at an emulator. */
export function cliClients(config: Config): AwsClients {
  return allAwsClients({ region: config.region });
}

export interface AlertTargets {
  topicArn?: string;
  stateTableName?: string;
  /** Where they came from, for messages: `config`, `stack OriginGuard`, or `none`. */
  source: string;
}

/**
 * The alert topic and state table for CLI runs: `alerts.topicArn` / `alerts.stateTableName` from the config,
 * else the deployed stack's outputs `AlertTopicArn` / `AlertStateTableName`, else none.
 */
export async function resolveAlertTargets(config: Config, clients: AwsClients): Promise<AlertTargets> {
  const fromConfig = { topicArn: config.alerts.topicArn, stateTableName: config.alerts.stateTableName };
  if (fromConfig.topicArn && fromConfig.stateTableName) return { ...fromConfig, source: 'config' };
  try {
    const { Stacks } = await clients.cloudFormation().send(new DescribeStacksCommand({ StackName: config.stackName }));
    const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    return {
      topicArn: fromConfig.topicArn ?? outputs.AlertTopicArn,
      stateTableName: fromConfig.stateTableName ?? outputs.AlertStateTableName,
      source: `stack ${config.stackName}`,
    };
  } catch {
    return { ...fromConfig, source: fromConfig.topicArn ? 'config' : 'none' };
  }
}

/** An SNS publisher for rotation failures run from the CLI, when a topic is known (reconcile: cli/reconcile.ts). */
export async function cliAlerts(config: Config, clients: AwsClients): Promise<AlertPort | undefined> {
  const { topicArn } = await resolveAlertTargets(config, clients);
  return topicArn ? new SnsAlertPublisher(clients.sns(topicArn.split(':')[3]), topicArn, undefined, config.alerts.format) : undefined;
}

/**
 * The secret leases the CLI takes (the alert-state table, where the Lambdas take theirs), so that an operator's
 * run and a Lambda never write one secret's targets at once. Without a known table (no stack, no
 * `alerts.stateTableName`), `onMissing` is told and the run is not serialized.
 */
export async function cliLeases(config: Config, clients: AwsClients, onMissing: (message: string) => void): Promise<LeasePort | undefined> {
  const { stateTableName, source } = await resolveAlertTargets(config, clients);
  if (!stateTableName) {
    onMissing(
      `no lease table known (alerts.stateTableName, or the output AlertStateTableName of stack ${config.stackName}; looked in: ${source}): ` +
        'this run is not serialized with the deployed rotation and retire functions',
    );
    return undefined;
  }
  return new DynamoDbLeases(clients.dynamoDb(), stateTableName, leaseOwner('cli', `${hostname()}:${process.pid}`));
}
