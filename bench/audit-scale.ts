/**
 * Section: the audit over many account-regions (issue 13). For 1, 10, 50 and 200 account-regions on the
 * emulator (accounts of two regions each; in every account-region a REGIONAL web ACL and a reconcile target of
 * two security groups), one audit run through the spoke roles (AssumeRole into each account) with the
 * configured concurrency: AWS API calls per account-region (they must stay flat as the count grows), AssumeRole
 * calls, wall time (it must grow far slower than the count), and Lambda invocations (as deployed, the Step
 * Functions Map of lib/audit-fan-out.ts invokes the audit once per account-region, hub included,
 * `audit.concurrency` at a time; here those invocations run in-process, on warm clients). Runs alone with
 * `npx tsx bench/audit-scale.ts [sizes]` (starts its own moto_server) or as part of `npm run bench`.
 */
import { performance } from 'node:perf_hooks';
import { CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { CreateWebACLCommand } from '@aws-sdk/client-wafv2';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import { visibility } from '../cli/seed.ts';
import { AccountClients } from '../lambdas/adapters/account-clients.ts';
import { runAccountAudit } from '../lambdas/adapters/account-audit.ts';
import { auditSlices } from '../lambdas/accounts.ts';
import { allAwsClients } from '../lambdas/adapters/all-clients.ts';
import { AwsClients, type ClientConstructors } from '../lambdas/adapters/aws-clients.ts';
import { parseConfig } from '../lambdas/config.ts';
import { fanOut } from '../lambdas/core/fan-out.ts';
import { silentLog, systemClock } from '../lambdas/core/ports.ts';

export const ACCOUNT_REGION_COUNTS = [1, 10, 50, 200];
export const AUDIT_CONCURRENCY = 8;
const REGIONS = ['eu-west-1', 'us-west-2'];

export interface AuditScaleRow {
  accountRegions: number;
  accounts: number;
  concurrency: number;
  apiCalls: number;
  apiCallsPerAccountRegion: number;
  assumeRoleCalls: number;
  wallMs: number;
  /** wallMs per account-region. */
  msPerAccountRegion: number;
  lambdaInvocations: number;
  findings: number;
  failed: number;
  peakConcurrency: number;
  /** Every account-region audited, its web ACL found and its groups read. */
  verified: boolean;
}

export interface AuditScaleResult {
  /** moto_server as it answers (a few ms of CPU per call, one process on the machine's cores). */
  rows: AuditScaleRow[];
  /** wall time at the largest count over wall time at the smallest, next to the count ratio (raw emulator). */
  wallRatio: number;
  countRatio: number;
  /**
   * The same worlds audited again with AWS_CALL_LATENCY_MS added to every AWS call: the run the wall-time goal
   * is judged on (on AWS a call waits on a remote service; on the emulator alone the work is CPU-bound).
   */
  latency?: { latencyMs: number; rows: AuditScaleRow[]; wallRatio: number; note: string };
}

type Counter = { calls: number };

/** Per AWS call of the latency run: a typical AWS control-plane round trip (see AUDIT_LATENCY_NOTE). */
export const AWS_CALL_LATENCY_MS = 60;
export const AUDIT_LATENCY_NOTE =
  `${AWS_CALL_LATENCY_MS} ms added to every AWS call (AssumeRole included) by an SDK middleware on the audit's real clients: a typical AWS control-plane round trip (tens to a few hundred ms), which on AWS a call spends waiting on a remote, independent service. moto_server answers in a few ms of CPU each, all from one process on the same 2 cores, so on the emulator alone the work is CPU-bound and concurrency cannot overlap anything; the latency run shows what the fan-out overlaps on AWS.`;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** SDK middleware: counts every command sent and, when asked, waits `latencyMs` before sending it. */
function countingMiddleware(counter: Counter, latencyMs: number, only?: string) {
  return (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (a: unknown) => {
    if (only !== undefined && context.commandName !== only) return next(a);
    counter.calls += 1;
    if (latencyMs > 0) await delay(latencyMs);
    return next(a);
  };
}

/** The SDK client classes with a middleware counting every command sent (and adding the latency run's wait). */
function countingConstructors(counter: Counter, latencyMs: number): ClientConstructors {
  const wrap = <C extends new (...args: any[]) => { middlewareStack: { add: (...a: any[]) => void } }>(Client: C): C =>
    class extends Client {
      constructor(...args: any[]) {
        super(...(args as [any]));
        this.middlewareStack.add(countingMiddleware(counter, latencyMs), { step: 'initialize', priority: 'high' });
      }
    };
  return {
    CloudFormationClient: wrap(CloudFormationClient),
    CloudFrontClient: wrap(CloudFrontClient),
    DynamoDBClient: wrap(DynamoDBClient),
    EC2Client: wrap(EC2Client),
    ElasticLoadBalancingV2Client: wrap(ElasticLoadBalancingV2Client),
    SecretsManagerClient: wrap(SecretsManagerClient),
    SNSClient: wrap(SNSClient),
    WAFV2Client: wrap(WAFV2Client),
  } as unknown as ClientConstructors;
}

interface ScaleWorld {
  count: number;
  nAccounts: number;
  settings: { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string }; maxAttempts: number };
  config: ReturnType<typeof parseConfig>;
}

/** `count` account-regions on the emulator, each with a web ACL and a target of two groups (not measured). */
export async function setUp(endpoint: string, count: number): Promise<ScaleWorld> {
  const nAccounts = Math.ceil(count / REGIONS.length);
  const accounts: Record<string, { accountId: string; regions: string[]; externalId: string }> = {};
  for (let i = 0; i < nAccounts; i++) {
    const regions = REGIONS.slice(0, Math.min(REGIONS.length, count - i * REGIONS.length));
    accounts[`a${String(i).padStart(3, '0')}`] = { accountId: String(800000000000 + count * 1000 + i), regions, externalId: 'bench' };
  }
  const settings = { region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 3 };
  const base = { region: 'eu-west-1', stackName: 'OriginGuard', accounts };
  const setupHub = allAwsClients(settings);
  const setup = new AccountClients({ config: parseConfig(base), hub: setupHub, fn: 'audit' });
  const places = Object.entries(accounts).flatMap(([account, a]) => a.regions.map((region) => ({ account, region })));
  const webAcls: unknown[] = [];
  const targets: unknown[] = [];
  const made = await fanOut(places, 16, async ({ account, region }, i) => {
    const c = setup.for({ account, region });
    const name = `scale-${count}-${i}`;
    const acl = await c.wafv2('REGIONAL').send(new CreateWebACLCommand({ Name: name, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, Rules: [], VisibilityConfig: visibility(name) }));
    const groups: string[] = [];
    for (let g = 0; g < 2; g++) groups.push((await c.ec2().send(new CreateSecurityGroupCommand({ GroupName: `${name}-${g}`, Description: 'bench audit scale' }))).GroupId!);
    webAcls.push({ scope: 'REGIONAL', name, id: acl.Summary!.Id!, account, region });
    targets.push({ name: `t-${i}`, account, region, securityGroupIds: groups, ports: [443], sources: [{ type: 'static', cidrs: ['203.0.113.0/24'] }] });
  });
  const setupErrors = made.results.filter((r) => !r.ok);
  if (setupErrors.length > 0) throw new Error(`audit scale ${count}: setup failed: ${String((setupErrors[0] as { error: unknown }).error)}`);
  const config = parseConfig({ ...base, ipRanges: { targets }, audit: { concurrency: AUDIT_CONCURRENCY, webAcls } });
  return { count, nAccounts, settings, config };
}

/** One audit over the world, on fresh clients (no credential cached), each AWS call delayed by `latencyMs`. */
export async function measure(world: ScaleWorld, latencyMs: number, log: (line: string) => void): Promise<AuditScaleRow> {
  const { count, nAccounts, settings, config } = world;
  const counter: Counter = { calls: 0 };
  const assumeRoles: Counter = { calls: 0 };
  const countAssumeRole = {
    applyToStack: (stack: { add: (...a: any[]) => void }) => stack.add(countingMiddleware(assumeRoles, latencyMs, 'AssumeRoleCommand'), { step: 'initialize', priority: 'high' }),
  };
  const hub = new AwsClients(settings, countingConstructors(counter, latencyMs));
  const auditAccounts = new AccountClients({ config, hub, fn: 'audit', stsPlugins: [countAssumeRole] });
  // As deployed (lib/audit-fan-out.ts): a Map over the account-regions, `audit.concurrency` at a time, each one
  // audit invocation of one account-region; here each invocation runs in-process on the same (warm) clients.
  const slices = auditSlices(config);
  const t0 = performance.now();
  const invocations = await fanOut(slices, AUDIT_CONCURRENCY, (slice) =>
    runAccountAudit(config, { hub, accounts: auditAccounts, clock: systemClock, log: silentLog }, undefined, { account: slice.account ?? '', region: slice.region }),
  );
  const wallMs = performance.now() - t0;
  const failedInvocations = invocations.results.filter((r) => !r.ok).length;
  const done = invocations.results.flatMap((r) => (r.ok ? [r.value] : []));
  const result = {
    findings: done.flatMap((d) => d.findings),
    accountRegions: done.flatMap((d) => d.accountRegions),
    peakConcurrency: invocations.peakConcurrency,
  };

  const spokes = result.accountRegions.filter((r) => r.account !== undefined);
  const verified =
    failedInvocations === 0 &&
    spokes.length === count &&
    spokes.every((r) => r.status === 'audited') &&
    result.findings.filter((f) => f.checkId === 'waf.exists' && f.status === 'PASS').length === count &&
    !result.findings.some((f) => f.checkId === 'audit.read' && f.status === 'FAIL');
  const row: AuditScaleRow = {
    accountRegions: count,
    accounts: nAccounts,
    concurrency: AUDIT_CONCURRENCY,
    apiCalls: counter.calls,
    apiCallsPerAccountRegion: Math.round((counter.calls / count) * 100) / 100,
    assumeRoleCalls: assumeRoles.calls,
    wallMs: Math.round(wallMs),
    msPerAccountRegion: Math.round((wallMs / count) * 10) / 10,
    lambdaInvocations: slices.length,
    findings: result.findings.length,
    failed: result.findings.filter((f) => f.status === 'FAIL').length,
    peakConcurrency: result.peakConcurrency,
    verified,
  };
  log(`audit scale ${count} account-regions${latencyMs ? ` (+${latencyMs} ms per AWS call)` : ''}: ${row.apiCalls} API calls (${row.apiCallsPerAccountRegion} per account-region), ${row.assumeRoleCalls} AssumeRole, ${row.wallMs} ms, verified ${verified}`);
  return row;
}

const ratio = (rows: AuditScaleRow[]) => Math.round((rows[rows.length - 1]!.wallMs / Math.max(rows[0]!.wallMs, 1)) * 10) / 10;

/**
 * For each size: one world on the emulator, audited once as moto_server answers and once with
 * `latencyMs` (default AWS_CALL_LATENCY_MS; 0 skips that run) added to every AWS call, on fresh clients each time.
 */
export async function runAuditScale(options: { endpoint: string; log: (line: string) => void; sizes?: number[]; latencyMs?: number }): Promise<AuditScaleResult> {
  const latencyMs = options.latencyMs ?? AWS_CALL_LATENCY_MS;
  const rows: AuditScaleRow[] = [];
  const latencyRows: AuditScaleRow[] = [];
  for (const count of options.sizes ?? ACCOUNT_REGION_COUNTS) {
    const world = await setUp(options.endpoint, count);
    rows.push(await measure(world, 0, options.log));
    if (latencyMs > 0) latencyRows.push(await measure(world, latencyMs, options.log));
  }
  return {
    rows,
    wallRatio: ratio(rows),
    countRatio: rows[rows.length - 1]!.accountRegions / rows[0]!.accountRegions,
    ...(latencyMs > 0 ? { latency: { latencyMs, rows: latencyRows, wallRatio: ratio(latencyRows), note: AUDIT_LATENCY_NOTE } } : {}),
  };
}

function scaleTable(rows: AuditScaleRow[]): string[] {
  return [
    '| account-regions | accounts | API calls | per account-region | AssumeRole | wall ms | ms per account-region | Lambda invocations | findings (failed) | peak concurrency | verified |',
    '| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |',
    ...rows.map(
      (x) =>
        `| ${x.accountRegions} | ${x.accounts} | ${x.apiCalls} | ${x.apiCallsPerAccountRegion} | ${x.assumeRoleCalls} | ${x.wallMs} | ${x.msPerAccountRegion} | ${x.lambdaInvocations} | ${x.findings} (${x.failed}) | ${x.peakConcurrency} | ${x.verified ? 'yes' : 'NO'} |`,
    ),
  ];
}

export function renderAuditScale(r: AuditScaleResult): string {
  const lines = [`Raw emulator (moto_server answers each call in a few ms of CPU; the audit and moto share the machine's cores):`, '', ...scaleTable(r.rows), ''];
  if (r.latency) {
    lines.push(`With ${r.latency.latencyMs} ms per AWS call (the run the goal is judged on):`, '', ...scaleTable(r.latency.rows), '');
    lines.push(
      `Wall time for ${r.countRatio}× the account-regions (concurrency ${AUDIT_CONCURRENCY}): **${r.latency.wallRatio}×** with ${r.latency.latencyMs} ms per AWS call; ${r.wallRatio}× on the raw emulator.`,
      '',
      `Note: ${r.latency.note}`,
    );
  } else {
    lines.push(`Wall time grows ${r.wallRatio}× for ${r.countRatio}× the account-regions (concurrency ${AUDIT_CONCURRENCY}; raw emulator only).`);
  }
  return lines.join('\n');
}

// Standalone: `npx tsx bench/audit-scale.ts [1,10,50]` (or `npm run bench -- --only audit-scale [sizes]`).
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startLocalEmulator } = await import('../cli/local-emulator.ts');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const emulator = await startLocalEmulator();
  try {
    const sizes = process.argv[2] ? process.argv[2].split(',').map(Number) : undefined;
    const result = await runAuditScale({ endpoint: emulator.endpoint, log: (l) => process.stderr.write(`[bench] ${l}\n`), ...(sizes ? { sizes } : {}) });
    process.stdout.write(`${renderAuditScale(result)}\n`);
  } finally {
    await emulator.stop();
  }
}
