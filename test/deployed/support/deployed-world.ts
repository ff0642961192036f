/**
 * The deployed world: the cloud assembly `cdk deploy` would upload, synthesized in-process for a config whose
 * resources exist on the emulator, and a resolver that turns each `Ref` / `Fn::GetAtt` / `Fn::Join` of the
 * template into the emulator resource it stands for (secret ARNs, table names, topic ARNs, ...).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { Config } from '../../../lambdas/config.ts';
import { PROJECT_ROOT } from '../../../lib/function.ts';
import { addOriginGuardStacks } from '../../../lib/origin-guard-stack.ts';

/** moto's account. */
export const ACCOUNT = '123456789012';

export interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, any>; Metadata?: Record<string, any> }>;
}

/** One Lambda function of the template, as the Lambda service would run it. */
export interface DeployedFunction {
  logicalId: string;
  /** `POWERTOOLS_SERVICE_NAME`, e.g. `origin-guard-rotation`. */
  serviceName: string;
  /** The asset directory of the cloud assembly that holds the bundle. */
  assetDir: string;
  /** `index.mjs` for `index.handler`. */
  handlerFile: string;
  handlerExport: string;
  timeoutSeconds: number;
  /** Environment.Variables exactly as synthesized (unresolved). */
  environment: Record<string, unknown>;
  roleLogicalId: string;
  /** The role's policy documents from the template (unresolved), by policy logical id. */
  policies: Array<{ logicalId: string; document: { Version?: string; Statement: any[] } }>;
}

export interface Assembly {
  outdir: string;
  template: Template;
  globalTemplate?: Template;
  functions: DeployedFunction[];
}

/**
 * Synthesizes the app for `config` into `outdir` with real bundling (esbuild, as `cdk deploy` does) and lists
 * the functions. `node_modules` of the project is linked into `outdir`, standing for the SDK the Lambda runtime
 * provides to the clients a bundle leaves external.
 */
export function synthesizeAssembly(config: Config, outdir: string): Assembly {
  mkdirSync(outdir, { recursive: true });
  // cdk.json's context (feature flags), as `cdk deploy` synthesizes.
  const context = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;
  const app = new App({ outdir, context });
  const { stack, globalEvents } = addOriginGuardStacks(app, config, { account: ACCOUNT });
  const assembly = app.synth();
  const read = (name: string): Template => JSON.parse(readFileSync(join(outdir, assembly.getStackByName(name).templateFile), 'utf8'));
  const template = read(stack.stackName);
  const globalTemplate = globalEvents ? read(globalEvents.stackName) : undefined;
  const link = join(outdir, 'node_modules');
  if (!existsSync(link)) symlinkSync(join(PROJECT_ROOT, 'node_modules'), link, 'dir');
  return { outdir, template, globalTemplate, functions: functionsOf(template, outdir) };
}

export function functionsOf(template: Template, outdir: string): DeployedFunction[] {
  const functions: DeployedFunction[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const p = resource.Properties ?? {};
    const key: string | undefined = p.Code?.S3Key;
    if (!key) throw new Error(`${logicalId}: Code.S3Key is missing (is the function inline?)`);
    const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
    const [file, handlerExport] = String(p.Handler).split('.');
    const handlerFile = readdirSync(assetDir).find((f) => f === `${file}.mjs` || f === `${file}.js`);
    if (!handlerFile) throw new Error(`${logicalId}: ${p.Handler} has no file in ${assetDir}`);
    const roleLogicalId = p.Role?.['Fn::GetAtt']?.[0];
    const policies = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((role: any) => role.Ref === roleLogicalId))
      .map(([id, r]) => ({ logicalId: id, document: r.Properties!.PolicyDocument }));
    const environment = p.Environment?.Variables ?? {};
    functions.push({
      logicalId,
      serviceName: String(environment.POWERTOOLS_SERVICE_NAME ?? logicalId),
      assetDir,
      handlerFile,
      handlerExport,
      timeoutSeconds: p.Timeout ?? 3,
      environment,
      roleLogicalId,
      policies,
    });
  }
  return functions;
}

/** What the stack's own resources are on the emulator (the stack cannot be deployed there). */
export interface EmulatorResources {
  region: string;
  topicArn: string;
  tableName: string;
  /** Secret name → ARN of the emulator's secret with that name. */
  secretArns: Map<string, string>;
}

/** Resolves intrinsic functions of `template` to emulator values; throws naming what it cannot resolve. */
export function templateResolver(template: Template, world: EmulatorResources) {
  const { region } = world;
  const resource = (id: string) => {
    const r = template.Resources[id];
    if (!r) throw new Error(`template has no resource ${id}`);
    return r;
  };
  const ref = (id: string): string => {
    if (id === 'AWS::Partition') return 'aws';
    if (id === 'AWS::AccountId') return ACCOUNT;
    if (id === 'AWS::Region') return region;
    if (id === 'AWS::URLSuffix') return 'amazonaws.com';
    const r = resource(id);
    switch (r.Type) {
      case 'AWS::SecretsManager::Secret': {
        const arn = world.secretArns.get(r.Properties?.Name);
        if (!arn) throw new Error(`secret ${r.Properties?.Name} (${id}) does not exist on the emulator`);
        return arn;
      }
      case 'AWS::SNS::Topic':
        return world.topicArn;
      case 'AWS::DynamoDB::Table':
        return world.tableName;
      case 'AWS::CloudWatch::Alarm':
        return r.Properties?.AlarmName ?? id;
      default:
        return r.Properties?.Name ?? id;
    }
  };
  const getAtt = (id: string, attribute: string): string => {
    const r = resource(id);
    const key = `${r.Type}.${attribute}`;
    switch (key) {
      case 'AWS::DynamoDB::Table.Arn':
        return `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${world.tableName}`;
      case 'AWS::IAM::Role.Arn':
        return `arn:aws:iam::${ACCOUNT}:role/${id}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:aws:logs:${region}:${ACCOUNT}:log-group:/aws/lambda/${id}:*`;
      case 'AWS::SQS::Queue.Arn':
        return `arn:aws:sqs:${region}:${ACCOUNT}:${id}`;
      case 'AWS::KMS::Key.Arn':
        return `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
      case 'AWS::SNS::Topic.TopicArn':
        return world.topicArn;
      case 'AWS::CloudWatch::Alarm.Arn':
        return `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:${ref(id)}`;
      case 'AWS::Lambda::Function.Arn':
        return `arn:aws:lambda:${region}:${ACCOUNT}:function:${id}`;
      default:
        throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute} (${r.Type}) to an emulator value`);
    }
  };
  const resolve = (value: unknown): any => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(resolve);
    const object = value as Record<string, any>;
    if ('Ref' in object) return ref(object.Ref);
    if ('Fn::GetAtt' in object) return getAtt(object['Fn::GetAtt'][0], object['Fn::GetAtt'][1]);
    if ('Fn::Join' in object) return (resolve(object['Fn::Join'][1]) as unknown[]).join(object['Fn::Join'][0]);
    if ('Fn::Select' in object) return resolve(object['Fn::Select'][1])[Number(resolve(object['Fn::Select'][0]))];
    if ('Fn::Split' in object) return String(resolve(object['Fn::Split'][1])).split(object['Fn::Split'][0]);
    const intrinsic = Object.keys(object).find((k) => k.startsWith('Fn::'));
    if (intrinsic) throw new Error(`cannot resolve ${intrinsic} to an emulator value: ${JSON.stringify(object)}`);
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve;
}
