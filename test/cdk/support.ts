import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, type Config } from '../../lambdas/config.ts';
import { PROJECT_ROOT } from '../../lib/function.ts';
import { addOriginGuardStacks } from '../../lib/origin-guard-stack.ts';

/** Stand-in handlers (the real ones are other work); they export `handler` and read the embedded config. */
export const STUB_HANDLERS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'handlers');

export const EXAMPLE_CONFIG_FILE = join(PROJECT_ROOT, 'origin-guard.config.example.json');

/** The example configuration as raw JSON, to derive variants from. */
export function exampleJson(): Record<string, any> {
  return JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
}

/** The example configuration, validated, with `change` applied to its JSON first. */
export function exampleConfig(change: (json: Record<string, any>) => void = () => {}): Config {
  const json = exampleJson();
  change(json);
  return parseConfig(json, 'test configuration');
}

/** The context of cdk.json (feature flags): the template tests synthesize what `cdk synth` and `cdk deploy` do. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;
}

/**
 * Synthesizes the app for `config` without bundling (fast: esbuild is not run), as bin/app.ts builds it.
 */
export function synth(config: Config = exampleConfig(), options: { tracing?: boolean } = {}) {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const { stack, globalEvents } = addOriginGuardStacks(app, config, { handlersDir: STUB_HANDLERS_DIR, ...options });
  return {
    app,
    stack,
    globalEvents,
    template: Template.fromStack(stack),
    globalTemplate: globalEvents ? Template.fromStack(globalEvents) : undefined,
  };
}

/** Statements of every IAM policy of the template whose logical id starts with `prefix`. */
export function policyStatements(template: Template, prefix: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.entries(policies)
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, resource]) => resource.Properties.PolicyDocument.Statement);
}

/** `Fn::Join` / `Ref` pieces flattened to text, e.g. `arn:{AWS::Partition}:cloudfront::{AWS::AccountId}:distribution/E2`. */
export function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, any>;
  if (object['Fn::Join']) return object['Fn::Join'][1].map(flat).join(object['Fn::Join'][0]);
  if (object.Ref) return `{${object.Ref}}`;
  if (object['Fn::GetAtt']) return `{${object['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(value);
}

/** Every (action, resource) pair a policy set allows, resources flattened. */
export function grants(statements: any[]): Array<{ action: string; resource: string; condition?: unknown }> {
  const list = (v: unknown) => (Array.isArray(v) ? v : [v]);
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => list(s.Action).flatMap((action: string) => list(s.Resource).map((r) => ({ action, resource: flat(r), condition: s.Condition }))));
}

/** Resources a policy set allows `action` on. */
export function resourcesFor(statements: any[], action: string): string[] {
  return grants(statements)
    .filter((g) => g.action === action)
    .map((g) => g.resource);
}
