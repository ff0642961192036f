import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, Duration, RemovalPolicy, type ILocalBundling } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { Config } from '../lambdas/config.ts';
import { unique } from './arns.ts';
import { throwIfProblems } from './errors.ts';
import { acknowledgeWildcardResource } from './nag.ts';

/** The repository root: handler entries and package-lock.json are resolved from it. */
/** Every AWS SDK client origin-guard uses: a function bundles the ones it names in `bundledSdkClients`. */
export const SDK_CLIENTS = [
  '@aws-sdk/client-cloudformation',
  '@aws-sdk/client-cloudfront',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/client-ec2',
  '@aws-sdk/client-elastic-load-balancing-v2',
  '@aws-sdk/client-s3',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-secrets-manager',
  '@aws-sdk/client-securityhub',
  '@aws-sdk/client-sns',
  '@aws-sdk/client-wafv2',
] as const;
export type SdkClientPackage = (typeof SDK_CLIENTS)[number];

/**
 * Which SDK clients each handler bundles (see `bundledSdkClients`). A bundled client is tree-shaken (with the
 * plugin of lib/bundle.mjs, down to the schemas of the commands the handler sends: EC2's 550 KB of schemas
 * become about 12 KB for the reconciler) and loads fast (the runtime's EC2 client alone takes about 200 ms to
 * load), and runs the version the tests ran, which
 * matters for CloudFront UpdateDistribution and WAFv2 UpdateWebACL: they replace the whole resource. Every
 * handler bundles every client it uses: cold init is the goal (under 150 ms), bundle size only below 3 MB.
 * Loading CloudFront, WAFv2 and DynamoDB from the runtime kept the audit bundle under 1 MB but cost it about
 * 80 ms of cold init (bench: 197 ms vs 115 ms with all bundled); the reconciler's DynamoDB about 40 ms.
 * Rotation and retire bundle DynamoDB (secret leases); rotation also CloudWatch (one stale-alarm read, by
 * createSecret only: loaded on use, lambdas/adapters/on-demand-clients.ts).
 * S3 stays in the runtime: only the audit loads it, and only when `report.bucket` is set. The audit's Security
 * Hub, Elastic Load Balancing and EventBridge clients are bundled but loaded on first use (chunks of their own,
 * lambdas/adapters/on-demand-clients.ts): a CloudTrail-triggered audit without those configurations never reads them.
 */
export const HANDLER_SDK_CLIENTS = {
  rotate: ['@aws-sdk/client-cloudfront', '@aws-sdk/client-cloudwatch', '@aws-sdk/client-dynamodb', '@aws-sdk/client-wafv2', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sns'],
  retire: ['@aws-sdk/client-cloudfront', '@aws-sdk/client-dynamodb', '@aws-sdk/client-wafv2', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sns'],
  reconcile: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-ec2', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sns'],
  audit: ['@aws-sdk/client-cloudfront', '@aws-sdk/client-dynamodb', '@aws-sdk/client-ec2', '@aws-sdk/client-elastic-load-balancing-v2', '@aws-sdk/client-eventbridge', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-securityhub', '@aws-sdk/client-sns', '@aws-sdk/client-wafv2'],
} as const satisfies Record<string, readonly SdkClientPackage[]>;

/** The esbuild settings of every function, shared with the benchmark so that it measures what is deployed. */
export function bundlingSettings(bundledSdkClients: readonly SdkClientPackage[]) {
  return {
    format: 'esm' as const,
    minify: true,
    sourcemap: false,
    mainFields: ['module', 'main'],
    external: SDK_CLIENTS.filter((c) => !bundledSdkClients.includes(c)),
    alias: { '@aws-sdk/credential-provider-node': join(PROJECT_ROOT, 'lambdas', 'lambda-credentials.ts') },
    // Some CommonJS dependencies call require() for Node built-ins, which an ESM bundle lacks.
    banner: "import { createRequire as __ogCreateRequire } from 'node:module'; const require = __ogCreateRequire(import.meta.url);",
  };
}

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The bundler every function is built with (lib/bundle.mjs), run by `node` in a child process at synth. */
const BUNDLER = join(PROJECT_ROOT, 'lib', 'bundle.mjs');

/** The bundle's file name in the function's asset; the handler is its export `handler`. */
export const HANDLER_FILE = 'index.mjs';

/** `node24` for `nodejs24.x`: the bundles are built for the runtime's Node version. */
export function esbuildTarget(runtime: lambda.Runtime): string {
  return `node${/^nodejs(\d+)/.exec(runtime.name)?.[1] ?? '20'}`;
}

/**
 * The esbuild options of one function's bundle (without `outdir`), for lib/bundle.mjs: the bundling settings,
 * the runtime's Node target, and the validated configuration embedded as `process.env.ORIGIN_GUARD_CONFIG_JSON`.
 * The benchmark builds its bundles from the same options.
 */
export function handlerBuildOptions(b: { entry: string; bundledSdkClients: readonly SdkClientPackage[]; config: Config; runtime: lambda.Runtime }) {
  const s = bundlingSettings(b.bundledSdkClients);
  return {
    // index.mjs; a module the handler imports with import() (a client used only by some configurations) goes
    // to a chunk of its own, read only when it is used, and still tree-shaken.
    entryPoints: { [HANDLER_FILE.replace(/\.mjs$/, '')]: b.entry },
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    platform: 'node' as const,
    target: esbuildTarget(b.runtime),
    format: s.format,
    minify: s.minify,
    sourcemap: s.sourcemap,
    mainFields: s.mainFields,
    external: s.external,
    alias: s.alias,
    banner: { js: s.banner },
    define: { [EMBEDDED_CONFIG_EXPRESSION]: JSON.stringify(JSON.stringify(b.config)) },
    logLevel: 'warning' as const,
  };
}

/** Where the Lambda handlers live (`rotate.ts`, `retire.ts`, `reconcile.ts`, `audit.ts`). */
export const DEFAULT_HANDLERS_DIR = join(PROJECT_ROOT, 'lambdas', 'handlers');

/** The expression the handlers read (`loadEmbeddedConfig()` in lambdas/config.ts); esbuild replaces it. */
export const EMBEDDED_CONFIG_EXPRESSION = 'process.env.ORIGIN_GUARD_CONFIG_JSON';

/**
 * The newest Node.js runtime this aws-cdk-lib offers (nodejs24.x with 2.276), so a CDK upgrade moves the
 * functions forward without a code change; cdk-nag's AwsSolutions-L1 asks for exactly that.
 */
export function latestNodeRuntime(): lambda.Runtime {
  const version = (r: lambda.Runtime) => Number(/^nodejs(\d+)\.x$/.exec(r.name)?.[1] ?? -1);
  // A pinned runtime, never the variable NODEJS_LATEST: bundles are built for one Node version, and CDK warns otherwise.
  const candidates = lambda.Runtime.ALL.filter((r) => r.family === lambda.RuntimeFamily.NODEJS && version(r) > 0 && !r.isVariable);
  return candidates.reduce((best, r) => (version(r) > version(best) ? r : best));
}

/**
 * Local bundling with lib/bundle.mjs in a child `node` (CDK calls tryBundle synchronously). `options` is an own
 * field on purpose: CDK caches bundled assets by their bundling options, and two functions must not share one.
 */
class EsbuildBundling implements ILocalBundling {
  constructor(readonly options: ReturnType<typeof handlerBuildOptions>) {}

  tryBundle(outputDir: string): boolean {
    const options = { ...this.options, outdir: outputDir };
    execFileSync(process.execPath, [BUNDLER, JSON.stringify(options)], { cwd: PROJECT_ROOT, stdio: ['ignore', 2, 'inherit'] });
    return true;
  }
}

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface OriginGuardFunctionProps {
  /** Handler source file, e.g. `<handlersDir>/rotate.ts`; it must export `handler`. */
  readonly entry: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** The validated configuration, embedded into the bundle (never in environment variables). */
  readonly config: Config;
  /** `POWERTOOLS_SERVICE_NAME`, e.g. `origin-guard-rotation`. */
  readonly serviceName: string;
  /** Topic for alerts (`ALERT_TOPIC_ARN`); the function is granted `sns:Publish` on it. */
  readonly alertTopic: sns.ITopic;
  /**
   * Table remembering which findings already alerted (`ALERT_STATE_TABLE`). Named here for every function;
   * access is granted by the construct whose function uses it (the auditor).
   */
  readonly alertStateTable: dynamodb.ITable;
  /**
   * A function that changes AWS state (rotation, retire, reconcile): reserved concurrency 1, so two runs
   * never race on the same web ACL, distribution or security group.
   * @default false
   */
  readonly writer?: boolean;
  /**
   * A writer whose runs are serialized per secret by a lease (lambdas/core/lease.ts) instead: no reserved
   * concurrency, so that rotations of different secrets, invoked synchronously by Secrets Manager on the same
   * day, never throttle each other.
   * @default false
   */
  readonly serializedByLease?: boolean;
  /** @default Duration.minutes(1) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** `POWERTOOLS_LOG_LEVEL`. @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * X-Ray active tracing. Off by default: its `xray:Put*` actions cannot be scoped to a resource.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Retries of an asynchronous invocation (EventBridge, SNS) before the event goes to the dead-letter queue.
   * @default 2
   */
  readonly retryAttempts?: number;
  /** @default RemovalPolicy.RETAIN: logs outlive the stack for investigations */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * SDK clients bundled into this function; every other client comes from the Lambda runtime. Always bundle a
   * client whose writes replace a whole resource (WAFv2 UpdateWebACL, CloudFront UpdateDistribution): an older
   * SDK in the runtime would drop fields it does not know from what we read, and so reset them when we write.
   * @default [] (all from the runtime)
   */
  readonly bundledSdkClients?: readonly SdkClientPackage[];
}

/**
 * One origin-guard Lambda, built the same way for every handler: the newest Node.js runtime, ARM64, an
 * esbuild ESM bundle (minified, no source maps) with the validated config embedded at bundle time, an
 * explicit log group with retention, an encrypted TLS-only dead-letter queue, and its own role that starts
 * empty (no AWS managed policy): each construct grants exactly what its function needs.
 */
export class OriginGuardFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly deadLetterQueue: sqs.Queue;
  private readonly readableSecretNames = new Set<string>();

  constructor(scope: Construct, id: string, props: OriginGuardFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.minutes(1);
    const memorySize = props.memorySize ?? 512;
    const retryAttempts = props.retryAttempts ?? 2;
    const problems: string[] = [];
    if (!/\.(ts|mts|js|mjs)$/.test(props.entry)) problems.push(`entry "${props.entry}" must be a .ts or .js file`);
    else if (!existsSync(props.entry)) problems.push(`entry "${props.entry}" does not exist`);
    if (timeout.toSeconds() < 1 || timeout.toSeconds() > 900) problems.push('timeout must be between 1 second and 15 minutes');
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240) problems.push('memorySize must be an integer between 128 and 10240');
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 2) problems.push('retryAttempts must be 0, 1 or 2');
    if (!props.serviceName) problems.push('serviceName must not be empty');
    throwIfProblems(`OriginGuardFunction ${this.node.path}`, problems);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    // A role without AWSLambdaBasicExecutionRole: logging is granted on this log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `origin-guard ${props.serviceName}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      // SQS-managed SSE: EventBridge can deliver undeliverable events here without a key policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    const runtime = latestNodeRuntime();
    // The bundle of lib/bundle.mjs (esbuild's API with a plugin NodejsFunction's esbuild command line cannot
    // take); NodejsFunction still gives the function its Node.js defaults.
    const build = handlerBuildOptions({ entry: props.entry, bundledSdkClients: props.bundledSdkClients ?? [], config: props.config, runtime });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      code: lambda.Code.fromAsset(PROJECT_ROOT, {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          image: runtime.bundlingImage,
          local: new EsbuildBundling(build),
        },
      }),
      handler: `${HANDLER_FILE.replace(/\.mjs$/, '')}.handler`,
      description: props.description,
      runtime,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout,
      role: this.role,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.writer && !props.serializedByLease ? 1 : undefined,
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      awsSdkConnectionReuse: false,
      environment: {
        ALERT_TOPIC_ARN: props.alertTopic.topicArn,
        ALERT_STATE_TABLE: props.alertStateTable.tableName,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
      },
    });

    // Not topic.grantPublish: its kms:GenerateDataKey* is wider than the two actions SNS needs from a publisher.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [props.alertTopic.topicArn] }));
    props.alertTopic.masterKey?.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey');
    if (props.tracing && this.policy) {
      acknowledgeWildcardResource(
        this.policy,
        '*',
        'X-Ray tracing (opted in with `tracing`): xray:PutTraceSegments and PutTelemetryRecords support no resource-level permissions; they only write trace data.',
      );
    }
  }

  /** The function's identity, for grants. */
  get grantPrincipal(): iam.IPrincipal {
    return this.role;
  }

  /** Adds a statement to the function's own policy. */
  addToRolePolicy(statement: iam.PolicyStatement): void {
    this.role.addToPrincipalPolicy(statement);
  }

  /**
   * Lets the function read secrets that live outside this stack, by name (Kong admin and Konnect tokens).
   * A secret encrypted with a customer managed key also needs `kms:Decrypt` granted on that key.
   */
  grantReadSecretsByName(names: Iterable<string>): void {
    for (const name of unique(names)) {
      if (this.readableSecretNames.has(name)) continue;
      const secret = secretsmanager.Secret.fromSecretNameV2(this, `ReadableSecret${this.readableSecretNames.size}`, name);
      secret.grantRead(this.role);
      this.readableSecretNames.add(name);
    }
  }

  /** The policy holding every grant of this function; cdk-nag findings on it are acknowledged here. */
  get policy(): iam.Policy | undefined {
    return this.role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
  }
}
