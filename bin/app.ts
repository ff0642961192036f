/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`): loads and validates the configuration, creates the
 * stack(s) in `config.region`, and runs cdk-nag's AwsSolutions checks on them.
 *
 * The configuration is read from `--context config=PATH`, else ORIGIN_GUARD_CONFIG, else
 * ./origin-guard.config.json; when none of these is given and ./origin-guard.config.json does not exist,
 * from origin-guard.config.example.json, so a fresh clone synthesizes. Only this file reads process.env.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../lambdas/config.ts';
import { PROJECT_ROOT } from '../lib/function.ts';
import { addOriginGuardStacks } from '../lib/origin-guard-stack.ts';

/** Shipped with the package: resolved from it, so a synth from another directory still finds it. */
const EXAMPLE_CONFIG_PATH = join(PROJECT_ROOT, 'origin-guard.config.example.json');

/** Which file to read, and why, so the user sees it. */
function chooseConfigFile(contextPath: unknown, env: NodeJS.ProcessEnv, exists = existsSync): { path: string; reason: string } {
  if (typeof contextPath === 'string' && contextPath !== '') return { path: contextPath, reason: '--context config' };
  if (env.ORIGIN_GUARD_CONFIG) return { path: env.ORIGIN_GUARD_CONFIG, reason: 'ORIGIN_GUARD_CONFIG' };
  if (exists(DEFAULT_CONFIG_PATH)) return { path: DEFAULT_CONFIG_PATH, reason: 'default location' };
  return { path: EXAMPLE_CONFIG_PATH, reason: `${DEFAULT_CONFIG_PATH} not found, using the example; copy origin-guard.config.example.json to ${DEFAULT_CONFIG_PATH} and edit it before deploying` };
}

function main(): void {
  const app = new App();
  const { path, reason } = chooseConfigFile(app.node.tryGetContext('config'), process.env);
  // stderr: stdout is the template when `cdk synth` prints it.
  console.error(`origin-guard: configuration ${resolve(path)} (${reason})`);
  let config;
  try {
    config = loadConfigFile(path);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  addOriginGuardStacks(app, config, { account: process.env.CDK_DEFAULT_ACCOUNT });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

main();
