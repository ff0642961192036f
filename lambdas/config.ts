/**
 * The one configuration schema of origin-guard (`origin-guard.config.json`), shared by the CDK app,
 * the CLI and the Lambdas. Field names are a public contract: add fields, never rename them.
 */
import { readFileSync } from 'node:fs';
import './zod-english.ts';
import * as z from 'zod/mini';

/** `z.string().min(1)` */
const nonEmpty = () => z.string().check(z.minLength(1));
/** `z.array(item).min(1)` */
const nonEmptyArray = <T extends z.core.SomeType>(item: T) => z.array(item).check(z.minLength(1));

const name = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (at most 63), starting with a letter or digit'));
const seconds = z.number().check(z.int(), z.gte(0));
const minutes = z.number().check(z.int(), z.gte(0));
const httpUrl = z.url({ protocol: /^https?$/ });
/** Sources read from the network or, for offline use, from a local file. */
const feedUrl = z.url({ protocol: /^(https?|file)$/ });
const awsRegion = z.string().check(z.regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1'));
const konnectRegion = z.enum(['us', 'eu', 'au', 'me', 'in', 'sg']);
const headerName = z.string().check(z.regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a valid HTTP header name'));
const secretName = z.string().check(z.minLength(1), z.maxLength(512));
const accountId = z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id'));
/** Where a resource lives: a name from `accounts` (default: the deployment's own account). */
const accountRef = z.optional(name);
/** The region of a regional resource (default: the config's `region`). */
const placementRegion = z.optional(awsRegion);

// ---------- rotation: senders and validators ----------

export const CloudFrontSenderSchema = z.strictObject({
  type: z.literal('cloudfront'),
  distributionId: z.string().check(z.regex(/^[A-Z0-9]{8,20}$/, 'must be a CloudFront distribution id such as E2EXAMPLE1ABC')),
  /** Origins that carry the header; all origins of the distribution when absent. */
  originIds: z.optional(nonEmptyArray(nonEmpty())),
  account: accountRef,
  /** Refused with a clear error: CloudFront is global (accepted here only to say so). */
  region: z.optional(z.string()),
});

export const KongVaultSenderSchema = z
  .strictObject({
    type: z.literal('kong-vault'),
    /** `secretsmanager`: Kong's `aws` vault reads the secret itself; `konnect-config-store`: a Konnect Config Store secret. */
    store: z.enum(['secretsmanager', 'konnect-config-store']),
    /** Kong's vault cache TTL: a new value is in use at most this long after it is written. */
    ttlSeconds: z._default(seconds, 300),
    /** Kong re-resolves expired vault references on a 60 s timer; a new value may take ttlSeconds + this to be used. */
    rotationCheckSeconds: z._default(seconds, 60),
    region: z.optional(konnectRegion),
    controlPlaneId: z.optional(nonEmpty()),
    configStoreId: z.optional(nonEmpty()),
    key: z.optional(nonEmpty()),
    tokenSecretName: z.optional(secretName),
    /** Base URL override of the Konnect API (tests, proxies); default `https://{region}.api.konghq.com`. */
    apiUrl: z.optional(httpUrl),
    /**
     * Where to read Kong's vault entity (`GET {vaultAdminUrl}/vaults/{vaultPrefix}`): the Kong Admin API or
     * Konnect's `.../core-entities`. With both set, a rotation first checks the vault's `ttl` against
     * `ttlSeconds` (and refuses ttl 0, or ttl + resurrect_ttl below 60 s) before it changes anything.
     */
    vaultAdminUrl: z.optional(httpUrl),
    vaultPrefix: z.optional(nonEmpty()),
    /** Token for `vaultAdminUrl` (Secrets Manager secret name); for Konnect the sender's `tokenSecretName` is used when absent. */
    vaultTokenSecretName: z.optional(secretName),
    /** The account Kong runs in (a label for findings and `--account`; Kong itself is reached over HTTP). */
    account: accountRef,
  })
  .check(
    z.superRefine((v, ctx) => {
      if ((v.vaultAdminUrl === undefined) !== (v.vaultPrefix === undefined)) {
        ctx.addIssue({ code: 'custom', path: [v.vaultAdminUrl === undefined ? 'vaultAdminUrl' : 'vaultPrefix'], message: 'is required when the other of vaultAdminUrl / vaultPrefix is set' });
      }
      if (v.store !== 'konnect-config-store') return;
      for (const field of ['region', 'controlPlaneId', 'configStoreId', 'key', 'tokenSecretName'] as const) {
        if (v[field] === undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: `is required when store is "konnect-config-store"` });
        }
      }
    }),
  );

export const SenderSchema = z.discriminatedUnion('type', [CloudFrontSenderSchema, KongVaultSenderSchema]);

export const WafV2ValidatorSchema = z.strictObject({
  type: z.literal('wafv2'),
  scope: z.enum(['REGIONAL', 'CLOUDFRONT']),
  webAclName: z.string().check(z.minLength(1), z.maxLength(128)),
  webAclId: nonEmpty(),
  ruleName: z._default(z.string().check(z.minLength(1), z.maxLength(128)), 'origin-verify'),
  priority: z._default(z.number().check(z.int(), z.gte(0)), 0),
  /** How long a web ACL change takes to reach every WAF node. */
  propagationSeconds: z._default(seconds, 60),
  account: accountRef,
  /** REGIONAL scope only: CLOUDFRONT-scope web ACLs are global. */
  region: placementRegion,
});

export const KongRouteValidatorSchema = z.strictObject({
  type: z.literal('kong-route'),
  /**
   * Base URL of the entities API: the Kong Admin API (`https://kong-admin.internal:8444`, optionally with
   * `/{workspace}`) or Konnect's `https://{region}.api.konghq.com/v2/control-planes/{id}/core-entities`.
   */
  adminUrl: httpUrl,
  routes: nonEmptyArray(nonEmpty()),
  tokenSecretName: z.optional(secretName),
  /** How the token is sent; default: `bearer` for Konnect (`*.api.konghq.com`), `kong-admin-token` otherwise. */
  auth: z.optional(z.enum(['kong-admin-token', 'bearer'])),
  /** Kong nodes pick up route changes after `db_update_frequency` (5 s by default). */
  propagationSeconds: z._default(seconds, 5),
  /** The account Kong runs in (a label for findings and `--account`; the Admin API is reached over HTTP). */
  account: accountRef,
});

export const SecretsManagerReadersValidatorSchema = z.strictObject({
  type: z.literal('secretsmanager-readers'),
  /** How long upstreams cache the secret (the verifier's `cacheTtlSeconds`). */
  cacheTtlSeconds: z._default(seconds, 300),
  /**
   * A verifier whose last good refresh is older than this is stale (its `maxStaleSeconds`): the stack alarms on
   * its `VerifierRefreshAgeSeconds` metric, and no rotation starts while that alarm is on. Default:
   * 3 × cacheTtlSeconds, at least 60.
   */
  maxStaleSeconds: z.optional(z.number().check(z.int(), z.gte(1))),
  /** The stale alarm to check before a rotation; default the stack's `origin-guard-verifier-stale-<secret name>`. */
  staleAlarmName: z.optional(z.string().check(z.minLength(1), z.maxLength(255))),
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
  rotationDays: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 30),
  overlapMinutes: z._default(minutes, 30),
  senders: nonEmptyArray(SenderSchema),
  validators: nonEmptyArray(ValidatorSchema),
  /**
   * Optional origin URL: the test step sends the pending value (must pass) and a wrong one (must be refused).
   * `https://` only (the request carries the pending value), `http://` for loopback only. It must run from
   * where the origin is reachable (README: probes); a network error or timeout is inconclusive, never "refused".
   */
  probeUrl: z.optional(
    httpUrl.check(
      z.refine((url) => url.startsWith('https://') || /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/.test(url), {
        message: 'must be an https:// URL (the probe sends the pending value; http:// is allowed for 127.0.0.1, localhost and [::1] only)',
      }),
    ),
  ),
  /** The status the origin answers a wrong header value with (Kong: 404 no route, WAF block: 403); default: any 4xx. */
  probeRefusedStatus: z.optional(z.number().check(z.int(), z.gte(400), z.lte(599))),
  /**
   * Redeploy after `cdk destroy`: the secret (and its KMS key) were retained, and a new secret of the same name
   * cannot be created. The stack then adopts the retained secret by its ARN instead of creating one (README:
   * "What cdk destroy leaves behind"). `kmsKeyArn` is the retained key that encrypts it.
   */
  adoptRetained: z.optional(
    z.strictObject({
      secretArn: z.string().check(z.regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/, 'must be the full ARN of the retained secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)')),
      kmsKeyArn: z.string().check(z.regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'must be the ARN of the retained KMS key (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID)')),
    }),
  ),
});

// ---------- ip ranges ----------

export const AwsSourceSchema = z.strictObject({
  type: z.literal('aws'),
  services: nonEmptyArray(z.string().check(z.regex(/^[A-Z0-9_]+$/, 'must be an ip-ranges.json service such as CLOUDFRONT_ORIGIN_FACING'))),
  regions: z.optional(nonEmptyArray(nonEmpty())),
  url: z._default(feedUrl, 'https://ip-ranges.amazonaws.com/ip-ranges.json'),
});
export const CloudflareSourceSchema = z.strictObject({
  type: z.literal('cloudflare'),
  urlV4: z._default(feedUrl, 'https://www.cloudflare.com/ips-v4'),
  urlV6: z._default(feedUrl, 'https://www.cloudflare.com/ips-v6'),
});
export const FastlySourceSchema = z.strictObject({
  type: z.literal('fastly'),
  url: z._default(feedUrl, 'https://api.fastly.com/public-ip-list'),
});
export const AzureFrontDoorSourceSchema = z.strictObject({
  type: z.literal('azure-frontdoor'),
  /** Azure publishes the service tags file under a weekly-changing URL: point this at a copy you refresh. */
  url: feedUrl,
  serviceTag: z._default(nonEmpty(), 'AzureFrontDoor.Backend'),
});
export const KonnectSourceSchema = z.strictObject({
  type: z.literal('konnect'),
  region: konnectRegion,
  networkId: z.optional(nonEmpty()),
  controlPlaneId: z.optional(nonEmpty()),
  tokenSecretName: secretName,
  /** Base URL override; default `https://global.api.konghq.com`. */
  apiUrl: z.optional(httpUrl),
});
export const StaticSourceSchema = z.strictObject({
  type: z.literal('static'),
  cidrs: nonEmptyArray(nonEmpty()),
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
  securityGroupIds: nonEmptyArray(z.string().check(z.regex(/^sg-[0-9a-f]+$/, 'must be a security group id such as sg-0123abcd'))),
  ports: nonEmptyArray(z.number().check(z.int(), z.gte(1), z.lte(65535))),
  protocol: z._default(z.enum(['tcp', 'udp']), 'tcp'),
  ipVersions: z._default(nonEmptyArray(z.enum(['ipv4', 'ipv6'])), ['ipv4', 'ipv6']),
  maxRulesPerGroup: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 60),
  maxRemovalFraction: z._default(z.number().check(z.gte(0), z.lte(1)), 0.3),
  /** `rules`: one ingress rule per CIDR × port; `prefix-list`: keep the set in customer-managed prefix lists. */
  mode: z._default(z.enum(['rules', 'prefix-list']), 'rules'),
  /**
   * Take ownership of unowned rules identical (protocol, ports, CIDR) to desired ones by rewriting their
   * description (hand-made rules, the SG-updater sample). Without it they still count as admitting the range.
   */
  adopt: z._default(z.boolean(), false),
  /**
   * Removal guard for sources without versions: a shrink beyond maxRemovalFraction is applied only once it has
   * been seen for this many hours across at least two runs.
   */
  removalGuardHours: z._default(z.number().check(z.gte(0), z.lte(24 * 30)), 6),
  /** Growth of the desired set beyond this factor (e.g. 47 → 150 rules with 3) is held like a large shrink. */
  maxGrowthFactor: z._default(z.number().check(z.gt(1), z.lte(100)), 3),
  prefixListIds: z.optional(nonEmptyArray(z.string().check(z.regex(/^pl-[0-9a-f]+$/)))),
  sources: nonEmptyArray(IpSourceSchema),
  account: accountRef,
  region: placementRegion,
});

export const IpRangesSchema = z.strictObject({
  scheduleMinutes: z._default(z.number().check(z.int(), z.gte(1)), 60),
  targets: nonEmptyArray(IpRangeTargetSchema),
});

// ---------- audit ----------

export const AuditSchema = z.strictObject({
  scheduleMinutes: z._default(z.number().check(z.int(), z.gte(1)), 15),
  /** Extra time past a secret's rotationDays before its age is a finding. */
  rotationGraceHours: z._default(z.number().check(z.int(), z.gte(0)), 24),
  /** How many account-regions are audited at once (the hub and every spoke). */
  concurrency: z._default(z.number().check(z.int(), z.gte(1), z.lte(100)), 8),
  /** Extra time past a secret's overlapMinutes before a still-open overlap is a finding. */
  overlapGraceMinutes: z._default(z.number().check(z.int(), z.gte(0)), 15),
  /**
   * A CIDR (in a rule or a referenced customer prefix list) admitting more than this share of its family's address
   * space is broad ingress (0.001: about a /10 in IPv4). `0.0.0.0/1` + `128.0.0.0/1` are two such CIDRs.
   */
  broadIngressShare: z._default(z.number().check(z.gt(0), z.lte(1)), 0.001),
  /** Import findings into AWS Security Hub (ASFF, BatchImportFindings) from the audit function. */
  securityHub: z._default(z.boolean(), false),
  /**
   * The origins attackers would aim at: their security groups (listed, and those attached to the load balancers
   * and network interfaces named), the ports they serve, and the config secret whose validators check the header.
   */
  origins: z.optional(
    z.array(
      z.strictObject({
        name,
        securityGroupIds: z._default(z.array(z.string().check(z.regex(/^sg-[0-9a-f]+$/, 'must be a security group id such as sg-0123abcd'))), []),
        loadBalancerArns: z._default(z.array(z.string().check(z.regex(/^arn:aws[a-z-]*:elasticloadbalancing:/, 'must be a load balancer ARN'))), []),
        networkInterfaceIds: z._default(z.array(z.string().check(z.regex(/^eni-[0-9a-f]+$/, 'must be a network interface id such as eni-0123abcd'))), []),
        ports: z._default(nonEmptyArray(z.number().check(z.int(), z.gte(1), z.lte(65535))), [443]),
        protocol: z._default(z.enum(['tcp', 'udp']), 'tcp'),
        /** The `secrets[].name` whose validators check this origin's header; none means nothing checks it. */
        secret: z.optional(nonEmpty()),
        /**
         * A CloudFront VPC origin (private ALB/NLB/EC2): its groups should admit CloudFront's managed
         * `CloudFront-VPCOrigins-Service-SG` and nothing broader on the origin ports.
         */
        vpcOrigin: z._default(z.boolean(), false),
      }),
    ),
  ),
  webAcls: z.optional(
    z.array(
      z.strictObject({
        scope: z.enum(['REGIONAL', 'CLOUDFRONT']),
        name: nonEmpty(),
        id: nonEmpty(),
        resourceArns: z._default(z.array(z.string().check(z.startsWith('arn:'))), []),
        requiredManagedRuleGroups: z._default(z.array(nonEmpty()), []),
        requireRateRule: z._default(z.boolean(), false),
        requireLogging: z._default(z.boolean(), false),
        account: accountRef,
        /** REGIONAL scope only. */
        region: placementRegion,
      }),
    ),
  ),
  distributions: z.optional(
    z.array(
      z.strictObject({
        id: nonEmpty(),
        webAclName: z.optional(nonEmpty()),
        account: accountRef,
        /** Refused with a clear error: CloudFront is global. */
        region: z.optional(z.string()),
      }),
    ),
  ),
  peerings: z.optional(
    z.array(
      z.strictObject({
        id: z.string().check(z.regex(/^pcx-[0-9a-f]+$/)),
        routeTableIds: z._default(z.array(z.string().check(z.regex(/^rtb-[0-9a-f]+$/))), []),
        allowedCidrs: z._default(z.array(nonEmpty()), []),
        account: accountRef,
        region: placementRegion,
      }),
    ),
  ),
  transitGateways: z.optional(
    z.array(
      z.strictObject({
        attachmentId: z.string().check(z.regex(/^tgw-attach-[0-9a-f]+$/)),
        routeTableIds: z._default(z.array(z.string().check(z.regex(/^rtb-[0-9a-f]+$/))), []),
        allowedCidrs: z._default(z.array(nonEmpty()), []),
        account: accountRef,
        region: placementRegion,
        /**
         * The transit gateway route tables this attachment may be associated with and propagate to; when set,
         * any other association or propagation is a finding (a path to other VPCs).
         */
        transitGatewayRouteTableIds: z.optional(z.array(z.string().check(z.regex(/^tgw-rtb-[0-9a-f]+$/, 'must be a transit gateway route table id such as tgw-rtb-0123abcd')))),
      }),
    ),
  ),
  konnect: z.optional(
    z.strictObject({
      region: konnectRegion,
      networkIds: nonEmptyArray(nonEmpty()),
      tokenSecretName: secretName,
      apiUrl: z.optional(httpUrl),
    }),
  ),
  probes: z.optional(
    z.array(
      z.strictObject({
        name,
        originUrl: httpUrl,
        cdnUrl: z.optional(httpUrl),
        headerName,
        timeoutMs: z._default(z.number().check(z.int(), z.gte(100), z.lte(30_000)), 5_000),
        /** The status the origin answers a refused request with (Kong: 404 on a header mismatch); default 403. */
        expectedStatus: z.optional(z.number().check(z.int(), z.gte(400), z.lte(599))),
      }),
    ),
  ),
});

// ---------- accounts ----------

export const AccountSchema = z.strictObject({
  accountId,
  /** The role the hub's functions assume in this account; default: the spoke stack's `<stackName>-<function>-<region>`. */
  roleName: z.optional(z.string().check(z.regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name'))),
  /** A full role ARN instead of `roleName` (a role you manage yourself). */
  roleArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/, 'must be an IAM role ARN'))),
  /** Regions of this account that hold configured resources or get a spoke stack; default: the config's `region`. */
  regions: z.optional(nonEmptyArray(awsRegion)),
  /** Passed to AssumeRole and required by the spoke role's trust policy when there is no `organizationId`. */
  externalId: z.optional(z.string().check(z.regex(/^[\w+=,.@:\/-]{2,1224}$/, 'must be 2 to 1224 characters of letters, digits and +=,.@:/-'))),
});

// ---------- alerts ----------

export const AlertsSchema = z.strictObject({
  /** Existing SNS topic for alerts; default: the stack's own topic. */
  topicArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN'))),
  /** DynamoDB table that remembers which findings already alerted; default: the stack's own table. */
  stateTableName: z.optional(z.string().check(z.minLength(3), z.maxLength(255))),
  emails: z._default(z.array(z.email()), []),
  /** Send a reminder for a finding that stays failed this long; 0 disables reminders. */
  reminderHours: z._default(z.number().check(z.int(), z.gte(0)), 24),
  /**
   * `email` (default): every subscriber gets readable text. `chat`: email subscribers still get text; SQS,
   * Lambda and HTTPS subscribers (AWS Chatbot / Amazon Q Developer in chat applications) get its
   * custom-notification JSON.
   */
  format: z._default(z.enum(['email', 'chat']), 'email'),
});

// ---------- posture report ----------

export const ReportSchema = z.strictObject({
  /** S3 bucket the stack creates (encrypted, TLS-only, versioned, private); the audit writes the posture page there after each scheduled run. */
  bucket: z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3-63 lower-case letters, digits, dots and dashes')),
  /** Object key of the page. */
  key: z._default(z.string().check(z.minLength(1), z.maxLength(1024), z.regex(/^[^*?]+$/, 'must be a plain object key (no * or ?)')), 'origin-guard/posture.html'),
});

// ---------- the file ----------

/**
 * The rotation function's timeout is the slowest validator wait plus this margin (setup, read-backs, probes,
 * and a rollback with its alert); lib/rotation.ts sizes it from the config and checks it at synth time.
 */
export const ROTATION_TIMEOUT_MARGIN_SECONDS = 180;
/** The longest validator propagation a rotation can wait out in its testSecret invocation (15 minutes less the margin). */
export const MAX_VALIDATOR_WAIT_SECONDS = 900 - ROTATION_TIMEOUT_MARGIN_SECONDS;

/** When a `secretsmanager-readers` verifier counts as stale (the verifier's and the alarm's threshold). */
export function readersMaxStaleSeconds(validator: { cacheTtlSeconds: number; maxStaleSeconds?: number }): number {
  return validator.maxStaleSeconds ?? Math.max(60, 3 * validator.cacheTtlSeconds);
}

/** The longest wait of one secret's testSecret: its slowest validator. */
export function slowestValidatorWaitSeconds(secret: { validators: ReadonlyArray<{ type: string; propagationSeconds?: number; cacheTtlSeconds?: number }> }): number {
  return Math.max(0, ...secret.validators.map((v) => (v.type === 'secretsmanager-readers' ? (v.cacheTtlSeconds ?? 0) : (v.propagationSeconds ?? 0))));
}

export const ConfigSchema = z
  .strictObject({
    $schema: z.optional(z.string()),
    region: awsRegion,
    /** CloudFormation stack name; the CLI reads the deployed stack's outputs from it. */
    stackName: z._default(z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)), 'OriginGuard'),
    secrets: z._default(z.array(SecretConfigSchema), []),
    ipRanges: z.optional(IpRangesSchema),
    audit: z.optional(AuditSchema),
    // A default is used as is, not parsed: it must already be the parsed shape (no topicArn / stateTableName).
    alerts: z._default(AlertsSchema, { emails: [], reminderHours: 24, format: 'email' }),
    /** Other accounts that hold configured resources, by name; items name one in their `account`. */
    accounts: z.optional(z.record(name, AccountSchema)),
    /** The account the stack (the hub) is deployed in; spoke roles trust its function roles. */
    hubAccountId: z.optional(accountId),
    /** The AWS Organization of the accounts: spoke roles require `aws:PrincipalOrgID` to be it. */
    organizationId: z.optional(z.string().check(z.regex(/^o-[a-z0-9]{10,32}$/, 'must be an organization id such as o-a1b2c3d4e5'))),
    /** Also synthesize the spoke template as a service-managed StackSet targeting `organizationalUnitIds`. */
    spokeStackSet: z._default(z.boolean(), false),
    organizationalUnitIds: z.optional(
      nonEmptyArray(z.string().check(z.regex(/^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$/, 'must be an organizational unit id (ou-...) or a root id (r-...)'))),
    ),
    /** Optional: where the audit Lambda (and `origin-guard report --html --upload`) puts the posture page. */
    report: z.optional(ReportSchema),
  })
  .check(
    z.superRefine((config, ctx) => {
      const duplicates = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);
      for (const dup of new Set(duplicates(config.secrets.map((s) => s.name)))) {
        ctx.addIssue({ code: 'custom', path: ['secrets'], message: `secret name "${dup}" is used more than once` });
      }
      config.secrets.forEach((secret, i) => {
        const adopted = secret.adoptRetained?.secretArn;
        // The ARN ends in `:secret:<secretName>-XXXXXX`: the retained secret of exactly this name.
        if (adopted && adopted.slice(adopted.indexOf(':secret:') + ':secret:'.length, -7) !== secret.secretName) {
          ctx.addIssue({ code: 'custom', path: ['secrets', i, 'adoptRetained', 'secretArn'], message: `names another secret than secretName "${secret.secretName}"` });
        }
      });
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
      // testSecret waits out the slowest validator inside one Lambda invocation (15 minutes at most).
      config.secrets.forEach((secret, i) => {
        secret.validators.forEach((v, j) => {
          const [field, wait] = v.type === 'secretsmanager-readers' ? ['cacheTtlSeconds', v.cacheTtlSeconds] : ['propagationSeconds', v.propagationSeconds];
          if (wait > MAX_VALIDATOR_WAIT_SECONDS) {
            ctx.addIssue({
              code: 'custom',
              path: ['secrets', i, 'validators', j, field],
              message: `must be at most ${MAX_VALIDATOR_WAIT_SECONDS}: the rotation waits this long inside one Lambda invocation, which AWS stops after 15 minutes (${ROTATION_TIMEOUT_MARGIN_SECONDS} s are kept for read-backs, probes and rollback)`,
            });
          }
        });
      });
      (config.audit?.origins ?? []).forEach((origin, i) => {
        if (origin.secret !== undefined && !config.secrets.some((s) => s.name === origin.secret)) {
          ctx.addIssue({ code: 'custom', path: ['audit', 'origins', i, 'secret'], message: `names no secret: "${origin.secret}" is not a secrets[].name` });
        }
        if (origin.securityGroupIds.length + origin.loadBalancerArns.length + origin.networkInterfaceIds.length === 0) {
          ctx.addIssue({ code: 'custom', path: ['audit', 'origins', i], message: 'needs securityGroupIds, loadBalancerArns or networkInterfaceIds: the audit reads the groups that guard the origin' });
        }
      });
      checkAccounts(config, ctx);
      // CloudWatch alarms can only notify a topic in their own region.
      const topicRegion = config.alerts.topicArn?.split(':')[3];
      if (topicRegion && topicRegion !== config.region) {
        ctx.addIssue({ code: 'custom', path: ['alerts', 'topicArn'], message: `must be a topic in ${config.region} (the stack's region), not ${topicRegion}: CloudWatch alarms only notify topics in their own region` });
      }
    }),
  );

type RefineContext = Parameters<Parameters<typeof z.superRefine<z.output<typeof ConfigSchema>>>[0]>[1];

/** Every item's `account` names a listed account, ids are unique, and global resources carry no region. */
function checkAccounts(config: z.output<typeof ConfigSchema>, ctx: RefineContext): void {
  const accounts = config.accounts ?? {};
  const names = Object.keys(accounts);
  const byId = new Map<string, string>();
  for (const [accountName, account] of Object.entries(accounts)) {
    const other = byId.get(account.accountId);
    if (other) ctx.addIssue({ code: 'custom', path: ['accounts', accountName, 'accountId'], message: `${account.accountId} is also the id of account "${other}"` });
    byId.set(account.accountId, accountName);
    if (account.roleName && account.roleArn) ctx.addIssue({ code: 'custom', path: ['accounts', accountName], message: 'give roleName or roleArn, not both' });
    if (account.roleArn && account.roleArn.split(':')[4] !== account.accountId) {
      ctx.addIssue({ code: 'custom', path: ['accounts', accountName, 'roleArn'], message: `must be a role of account ${account.accountId}` });
    }
    if (!account.externalId && !config.organizationId && !account.roleArn && !account.roleName) {
      // Spoke roles of the spoke stack need a condition beyond the hub's role ARNs.
      ctx.addIssue({ code: 'custom', path: ['accounts', accountName, 'externalId'], message: 'is required when there is no organizationId: the spoke role must require aws:PrincipalOrgID or an external id' });
    }
  }
  if (config.spokeStackSet && !config.organizationalUnitIds) {
    ctx.addIssue({ code: 'custom', path: ['organizationalUnitIds'], message: 'is required when spokeStackSet is true (a service-managed StackSet targets organizational units)' });
  }
  if (config.spokeStackSet && !config.organizationId) {
    ctx.addIssue({ code: 'custom', path: ['organizationId'], message: 'is required when spokeStackSet is true (StackSets deploy to the accounts of an organization)' });
  }
  const known = names.length > 0 ? `the accounts are ${names.map((n) => `"${n}"`).join(', ')}` : 'no accounts are configured (add them under "accounts")';
  const place = (path: PropertyKey[], item: { account?: string; region?: string }, global?: string) => {
    if (item.account !== undefined && !(item.account in accounts)) {
      ctx.addIssue({ code: 'custom', path: [...path, 'account'], message: `unknown account "${item.account}": ${known}` });
    }
    if (global && item.region !== undefined) {
      ctx.addIssue({ code: 'custom', path: [...path, 'region'], message: `${global} is global: remove region` });
    } else if (item.account === undefined && item.region !== undefined && item.region !== config.region) {
      // The hub's function roles are granted the home region's resources; other regions go through spoke roles.
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'region'],
        message: `${item.region} is not the stack's region (${config.region}): set "account" too (list the hub account under "accounts" with its own id to use it in other regions)`,
      });
    }
  };
  config.secrets.forEach((secret, i) => {
    secret.senders.forEach((s, j) => place(['secrets', i, 'senders', j], s, s.type === 'cloudfront' ? 'CloudFront' : undefined));
    secret.validators.forEach((v, j) => {
      if (v.type === 'secretsmanager-readers') return;
      place(['secrets', i, 'validators', j], v, v.type === 'wafv2' && v.scope === 'CLOUDFRONT' ? 'a CLOUDFRONT-scope web ACL' : undefined);
    });
  });
  config.ipRanges?.targets.forEach((t, i) => place(['ipRanges', 'targets', i], t));
  config.audit?.webAcls?.forEach((w, i) => place(['audit', 'webAcls', i], w, w.scope === 'CLOUDFRONT' ? 'a CLOUDFRONT-scope web ACL' : undefined));
  config.audit?.distributions?.forEach((d, i) => place(['audit', 'distributions', i], d, 'CloudFront'));
  config.audit?.peerings?.forEach((p, i) => place(['audit', 'peerings', i], p));
  config.audit?.transitGateways?.forEach((t, i) => place(['audit', 'transitGateways', i], t));
}

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
export type AccountConfig = z.output<typeof AccountSchema>;
export type ReportConfig = z.output<typeof ReportSchema>;

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
