import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfigFile, resolveConfigPath, type Config } from '../lambdas/config.ts';
import { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { UsageError } from './context.ts';

/** Flags every command takes. */
export const commonOptions = {
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** parseArgs with the common flags; unknown flags become a UsageError naming them. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function loadCliConfig(flag: string | undefined, env: NodeJS.ProcessEnv): Config {
  return loadConfigFile(resolveConfigPath(flag, env));
}

/** Clients for the configured account; AWS_ENDPOINT_URL (read by the SDK) points them at an emulator. */
export function cliClients(config: Config): AwsClients {
  return new AwsClients({ region: config.region });
}
