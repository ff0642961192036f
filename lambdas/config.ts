/**
 * The one configuration schema of origin-guard (`origin-guard.config.json`), shared by the CDK app,
 * the CLI and the Lambdas. Field names are a public contract: add fields, never rename them.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (at most 63), starting with a letter or digit');
const seconds = z.number().int().min(0);
const minutes = z.number().int().min(0);
const httpUrl = z.url({ protocol: /^https?$/ });
/** Sources read from the network or, for offline use, from a local file. */
const feedUrl = z.url({ protocol: /^(https?|file)$/ });
const awsRegion = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1');
const konnectRegion = z.enum(['us', 'eu', 'au', 'me', 'in', 'sg']);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a valid HTTP header name');
const secretName = z.string().min(1).max(512);

// ---------- rotation: senders and validators ----------

export const CloudFrontSenderSchema = z.strictObject({
  type: z.literal('cloudfront'),
  distributionId: z.string().regex(/^[A-Z0-9]{8,20}$/, 'must be a CloudFront distribution id such as E2EXAMPLE1ABC'),
  /** Origins that carry the header; all origins of the distribution when absent. */
  originIds: z.array(z.string().min(1)).min(1).optional(),
});

export const KongVaultSenderSchema = z
  .strictObject({
    type: z.literal('kong-vault'),
    /** `secretsmanager`: Kong's `aws` vault reads the secret itself; `konnect-config-store`: a Konnect Config Store secret. */
    store: z.enum(['secretsmanager', 'konnect-config-store']),
    /** Kong's vault cache TTL: a new value is in use at most this long after it is written. */
    ttlSeconds: seconds.default(300),
    /** Kong re-resolves expired vault references on a 60 s timer; a new value may take ttlSeconds + this to be used. */
    rotationCheckSeconds: seconds.default(60),
    region: konnectRegion.optional(),
    controlPlaneId: z.string().min(1).optional(),
    configStoreId: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    tokenSecretName: secretName.optional(),
    /** Base URL override of the Konnect API (tests, proxies); default `https://{region}.api.konghq.com`. */
    apiUrl: httpUrl.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.store !== 'konnect-config-store') return;
    for (const field of ['region', 'controlPlaneId', 'configStoreId', 'key', 'tokenSecretName'] as const) {
      if (v[field] === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `is required when store is "konnect-config-store"` });
      }
    }
  });

export const SenderSchema = z.discriminatedUnion('type', [CloudFrontSenderSchema, KongVaultSenderSchema]);

export const WafV2ValidatorSchema = z.strictObject({
  type: z.literal('wafv2'),
  scope: z.enum(['REGIONAL', 'CLOUDFRONT']),
  webAclName: z.string().min(1).max(128),
  webAclId: z.string().min(1),
  ruleName: z.string().min(1).max(128).default('origin-verify'),
  priority: z.number().int().min(0).default(0),
  /** How long a web ACL change takes to reach every WAF node. */
  propagationSeconds: seconds.default(60),
});

export const KongRouteValidatorSchema = z.strictObject({
  type: z.literal('kong-route'),
  /**
   * Base URL of the entities API: the Kong Admin API (`https://kong-admin.internal:8444`, optionally with
   * `/{workspace}`) or Konnect's `https://{region}.api.konghq.com/v2/control-planes/{id}/core-entities`.
   */
  adminUrl: httpUrl,
  routes: z.array(z.string().min(1)).min(1),
  tokenSecretName: secretName.optional(),
  /** How the token is sent; default: `bearer` for Konnect (`*.api.konghq.com`), `kong-admin-token` otherwise. */
  auth: z.enum(['kong-admin-token', 'bearer']).optional(),
  /** Kong nodes pick up route changes after `db_update_frequency` (5 s by default). */
  propagationSeconds: seconds.default(5),
});

export const SecretsManagerReadersValidatorSchema = z.strictObject({
  type: z.literal('secretsmanager-readers'),
  /** How long upstreams cache the secret (the verifier's `cacheTtlSeconds`). */
  cacheTtlSeconds: seconds.default(300),
});

export const ValidatorSchema = z.discriminatedUnion('type', [
  WafV2ValidatorSchema,
  KongRouteValidatorSchema,
  SecretsManagerReadersValidatorSchema,
]);

export const SecretConfigSchema = z.strictObject({
  name,
  secretName,
  headerName,
  rotationDays: z.number().int().min(1).max(1000).default(30),
  overlapMinutes: minutes.default(30),
  senders: z.array(SenderSchema).min(1),
  validators: z.array(ValidatorSchema).min(1),
  /** Optional origin URL: the test step sends the pending value (must pass) and a wrong one (must be refused). */
  probeUrl: httpUrl.optional(),
});

// ---------- ip ranges ----------

export const AwsSourceSchema = z.strictObject({
  type: z.literal('aws'),
  services: z.array(z.string().regex(/^[A-Z0-9_]+$/, 'must be an ip-ranges.json service such as CLOUDFRONT_ORIGIN_FACING')).min(1),
  regions: z.array(z.string().min(1)).min(1).optional(),
  url: feedUrl.default('https://ip-ranges.amazonaws.com/ip-ranges.json'),
});
export const CloudflareSourceSchema = z.strictObject({
  type: z.literal('cloudflare'),
  urlV4: feedUrl.default('https://www.cloudflare.com/ips-v4'),
  urlV6: feedUrl.default('https://www.cloudflare.com/ips-v6'),
});
export const FastlySourceSchema = z.strictObject({
  type: z.literal('fastly'),
  url: feedUrl.default('https://api.fastly.com/public-ip-list'),
});
export const AzureFrontDoorSourceSchema = z.strictObject({
  type: z.literal('azure-frontdoor'),
  /** Azure publishes the service tags file under a weekly-changing URL: point this at a copy you refresh. */
  url: feedUrl,
  serviceTag: z.string().min(1).default('AzureFrontDoor.Backend'),
});
export const KonnectSourceSchema = z
  .strictObject({
    type: z.literal('konnect'),
    region: konnectRegion,
    networkId: z.string().min(1).optional(),
    controlPlaneId: z.string().min(1).optional(),
    tokenSecretName: secretName,
    /** Base URL override; default `https://global.api.konghq.com`. */
    apiUrl: httpUrl.optional(),
  });
export const StaticSourceSchema = z.strictObject({
  type: z.literal('static'),
  cidrs: z.array(z.string().min(1)).min(1),
});

export const IpSourceSchema = z.discriminatedUnion('type', [
  AwsSourceSchema,
  CloudflareSourceSchema,
  FastlySourceSchema,
  AzureFrontDoorSourceSchema,
  KonnectSourceSchema,
  StaticSourceSchema,
]);

export const IpRangeTargetSchema = z.strictObject({
  name,
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id such as sg-0123abcd')).min(1),
  ports: z.array(z.number().int().min(1).max(65535)).min(1),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  ipVersions: z.array(z.enum(['ipv4', 'ipv6'])).min(1).default(['ipv4', 'ipv6']),
  maxRulesPerGroup: z.number().int().min(1).max(1000).default(60),
  maxRemovalFraction: z.number().min(0).max(1).default(0.3),
  /** `rules`: one ingress rule per CIDR × port; `prefix-list`: keep the set in customer-managed prefix lists. */
  mode: z.enum(['rules', 'prefix-list']).default('rules'),
  prefixListIds: z.array(z.string().regex(/^pl-[0-9a-f]+$/)).min(1).optional(),
  sources: z.array(IpSourceSchema).min(1),
});

export const IpRangesSchema = z.strictObject({
  scheduleMinutes: z.number().int().min(1).default(60),
  targets: z.array(IpRangeTargetSchema).min(1),
});

// ---------- audit ----------

export const AuditSchema = z.strictObject({
  scheduleMinutes: z.number().int().min(1).default(15),
  /** Extra time past a secret's rotationDays before its age is a finding. */
  rotationGraceHours: z.number().int().min(0).default(24),
  /** Extra time past a secret's overlapMinutes before a still-open overlap is a finding. */
  overlapGraceMinutes: z.number().int().min(0).default(15),
  webAcls: z
    .array(
      z.strictObject({
        scope: z.enum(['REGIONAL', 'CLOUDFRONT']),
        name: z.string().min(1),
        id: z.string().min(1),
        resourceArns: z.array(z.string().startsWith('arn:')).default([]),
        requiredManagedRuleGroups: z.array(z.string().min(1)).default([]),
        requireRateRule: z.boolean().default(false),
        requireLogging: z.boolean().default(false),
      }),
    )
    .optional(),
  distributions: z.array(z.strictObject({ id: z.string().min(1), webAclName: z.string().min(1).optional() })).optional(),
  peerings: z
    .array(
      z.strictObject({
        id: z.string().regex(/^pcx-[0-9a-f]+$/),
        routeTableIds: z.array(z.string().regex(/^rtb-[0-9a-f]+$/)).default([]),
        allowedCidrs: z.array(z.string().min(1)).default([]),
      }),
    )
    .optional(),
  transitGateways: z
    .array(
      z.strictObject({
        attachmentId: z.string().regex(/^tgw-attach-[0-9a-f]+$/),
        routeTableIds: z.array(z.string().regex(/^rtb-[0-9a-f]+$/)).default([]),
        allowedCidrs: z.array(z.string().min(1)).default([]),
      }),
    )
    .optional(),
  konnect: z
    .strictObject({
      region: konnectRegion,
      networkIds: z.array(z.string().min(1)).min(1),
      tokenSecretName: secretName,
      apiUrl: httpUrl.optional(),
    })
    .optional(),
  probes: z
    .array(
      z.strictObject({
        name,
        originUrl: httpUrl,
        cdnUrl: httpUrl.optional(),
        headerName,
        timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
      }),
    )
    .optional(),
});

// ---------- alerts ----------

export const AlertsSchema = z.strictObject({
  /** Existing SNS topic for alerts; default: the stack's own topic. */
  topicArn: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN').optional(),
  /** DynamoDB table that remembers which findings already alerted; default: the stack's own table. */
  stateTableName: z.string().min(3).max(255).optional(),
  emails: z.array(z.email()).default([]),
  /** Send a reminder for a finding that stays failed this long; 0 disables reminders. */
  reminderHours: z.number().int().min(0).default(24),
});

// ---------- the file ----------

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    region: awsRegion,
    /** CloudFormation stack name; the CLI reads the deployed stack's outputs from it. */
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/).default('OriginGuard'),
    secrets: z.array(SecretConfigSchema).default([]),
    ipRanges: IpRangesSchema.optional(),
    audit: AuditSchema.optional(),
    alerts: AlertsSchema.default({ emails: [], reminderHours: 24 }),
  })
  .superRefine((config, ctx) => {
    const duplicates = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);
    for (const dup of new Set(duplicates(config.secrets.map((s) => s.name)))) {
      ctx.addIssue({ code: 'custom', path: ['secrets'], message: `secret name "${dup}" is used more than once` });
    }
    for (const dup of new Set(duplicates(config.secrets.map((s) => s.secretName)))) {
      ctx.addIssue({ code: 'custom', path: ['secrets'], message: `secretName "${dup}" is used more than once` });
    }
    const targets = config.ipRanges?.targets ?? [];
    for (const dup of new Set(duplicates(targets.map((t) => t.name)))) {
      ctx.addIssue({ code: 'custom', path: ['ipRanges', 'targets'], message: `target name "${dup}" is used more than once` });
    }
    targets.forEach((t, i) => {
      if (t.mode === 'prefix-list' && !t.prefixListIds) {
        ctx.addIssue({ code: 'custom', path: ['ipRanges', 'targets', i, 'prefixListIds'], message: 'is required when mode is "prefix-list"' });
      }
    });
  });

export type Config = z.output<typeof ConfigSchema>;
export type SecretConfig = Config['secrets'][number];
export type SenderConfig = SecretConfig['senders'][number];
export type ValidatorConfig = SecretConfig['validators'][number];
export type CloudFrontSenderConfig = z.output<typeof CloudFrontSenderSchema>;
export type KongVaultSenderConfig = z.output<typeof KongVaultSenderSchema>;
export type WafV2ValidatorConfig = z.output<typeof WafV2ValidatorSchema>;
export type KongRouteValidatorConfig = z.output<typeof KongRouteValidatorSchema>;
export type SecretsManagerReadersValidatorConfig = z.output<typeof SecretsManagerReadersValidatorSchema>;
export type IpRangesConfig = z.output<typeof IpRangesSchema>;
export type IpRangeTargetConfig = z.output<typeof IpRangeTargetSchema>;
export type IpSourceConfig = z.output<typeof IpSourceSchema>;
export type AuditConfig = z.output<typeof AuditSchema>;
export type AlertsConfig = z.output<typeof AlertsSchema>;

/** A configuration that failed validation; `problems` lists every problem, each naming its JSON path. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    super(`Invalid origin-guard configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
  }
}

/** `secrets[0].senders[1].distributionId` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(root)';
}

/** Validates an already parsed value. Throws ConfigError listing every problem with its path. */
export function parseConfig(value: unknown, source = 'configuration'): Config {
  const result = ConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  throw new ConfigError(source, problems, { cause: result.error });
}

/** Parses and validates JSON text. */
export function parseConfigText(text: string, source = 'configuration'): Config {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(source, [`(root): not valid JSON: ${(error as Error).message}`], { cause: error });
  }
  return parseConfig(value, source);
}

export const DEFAULT_CONFIG_PATH = 'origin-guard.config.json';

/** Where the CLI and the CDK app read the config: `--config`, else `ORIGIN_GUARD_CONFIG`, else `./origin-guard.config.json`. */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.ORIGIN_GUARD_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT'
        ? `file not found. Copy origin-guard.config.example.json to ${path}, or pass --config / set ORIGIN_GUARD_CONFIG.`
        : `cannot read the file (${code ?? (error as Error).message})`;
    throw new ConfigError(path, [`(root): ${hint}`], { cause: error });
  }
  return parseConfigText(text, path);
}

/**
 * The config embedded into a Lambda bundle at synth time (esbuild `define` of ORIGIN_GUARD_CONFIG_JSON),
 * validated again at cold start so a hand-edited function fails loudly, naming the path.
 */
export function loadEmbeddedConfig(text: string | undefined = process.env.ORIGIN_GUARD_CONFIG_JSON): Config {
  if (!text) throw new ConfigError('the Lambda environment', ['(root): ORIGIN_GUARD_CONFIG_JSON is not set']);
  return parseConfigText(text, 'the embedded configuration');
}
