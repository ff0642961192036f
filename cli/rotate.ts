/**
 * `origin-guard rotate` and `origin-guard retire`: the same core functions as the rotation and retire Lambdas.
 */
import type { Config, SecretConfig } from '../lambdas/config.ts';
import { describeError, LeaseHeldError } from '../lambdas/core/errors.ts';
import { leaseKey, type LeasePort } from '../lambdas/core/lease.ts';
import { clockWithBudget, silentLog, STAGE, TAG, systemClock, type AlertPort, type LogPort } from '../lambdas/core/ports.ts';
import { progressTags, rotationView } from '../lambdas/core/rotation-state.ts';
import { adopt, retire, rotateInProcess, waitAndRetire, whenLeaseFree, withSecretLease, type RetireResult, type RotationDeps } from '../lambdas/core/rotation.ts';
import { rotationDeps } from '../lambdas/adapters/rotation-targets.ts';
import { accountClientsOf, type AccountClients } from '../lambdas/adapters/account-clients.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { UsageError, type CliContext, type Command } from './context.ts';
import { progressPrinter } from './progress.ts';
import { cliAlerts, cliClients, cliLeases, loadCliConfig, parseFlags } from './runtime.ts';

const ROTATE_HELP = `Usage: origin-guard rotate [--secret NAME] [--local] [--emergency] [--timeout MINUTES] [--json] [--config FILE]

Rotates every configured secret (or only --secret NAME) with overlap: validators accept old+new, then senders
switch. Ends with the overlap open; "origin-guard retire" (or the scheduled retire Lambda) closes it.

  --local        run the rotation steps in this process against the configured account (honours AWS_ENDPOINT_URL)
                 instead of asking Secrets Manager to run the deployed rotation Lambda (RotateSecret) and following it
  --emergency    for a leaked value: skip the overlap window and retire as soon as every sender has propagated
                 (CloudFront Deployed, vault TTL elapsed) - never earlier
  --timeout      how long to follow a deployed rotation or wait for propagation (default 30 minutes); with
                 --local also the deadline of the steps: a wait that cannot finish in time stops cleanly (targets
                 keep accepting every value in use) and the next run resumes it without waiting again

Every run takes the secret's lease (in the alert-state table) for the time it writes: a run that finds another
writer (the deployed rotation or retire function, another operator) refuses, naming it, and changes nothing.
  --json         print {"secrets":[{"name","status","token","overlap","error"}]} on stdout`;

const RETIRE_HELP = `Usage: origin-guard retire [--secret NAME] [--wait] [--timeout MINUTES] [--json] [--config FILE]

Closes the overlap of every secret (or --secret NAME) where it is safe: the overlap window has passed and every
sender has propagated the current value. Without --wait it checks once and says what it still waits for.

  --wait         keep checking until it can retire (or --timeout, default 30 minutes)
  --json         print {"secrets":[{"name","status","reason"}]} on stdout`;

const CLI_DEADLINE_MARGIN_MS = 15_000;

function selectSecrets(config: Config, name: string | undefined): SecretConfig[] {
  if (config.secrets.length === 0) throw new UsageError('no secrets are configured (the "secrets" list of the config file is empty)');
  if (!name) return config.secrets;
  const secret = config.secrets.find((s) => s.name === name || s.secretName === name);
  if (!secret) throw new UsageError(`--secret ${name}: no such secret (configured: ${config.secrets.map((s) => s.name).join(', ')})`);
  return [secret];
}

function timeoutMs(value: string | undefined): number {
  if (value === undefined) return 30 * 60_000;
  const minutes = Number(value);
  if (!Number.isFinite(minutes) || minutes <= 0) throw new UsageError(`--timeout ${value}: must be a positive number of minutes`);
  return minutes * 60_000;
}

export interface RotateOutcome {
  name: string;
  status: 'rotated' | 'failed';
  token?: string;
  resumed?: boolean;
  /** `open`: old and new accepted until retire; `retired`: only new (emergency). */
  overlap?: 'open' | 'retired';
  retire?: RetireResult;
  error?: string;
}

/** Follows a rotation run by the deployed Lambda until the new version is AWSCURRENT, or it was rolled back. */
async function followDeployedRotation(deps: RotationDeps, secret: SecretConfig, ctx: CliContext, limitMs: number): Promise<string> {
  const before = rotationView(await deps.store.describe());
  if (before.rotating) {
    throw new Error(
      `an earlier rotation (token ${before.pendingVersionId}) has not finished; "origin-guard status --secret ${secret.name}" shows its progress. ` +
        `Resume it with --local once no other writer holds the secret (a run that finds one refuses and changes nothing)`,
    );
  }
  // A writer holding the secret would make the Lambda refuse every step: say who, before asking Secrets Manager.
  const holder = await deps.leases?.holder(leaseKey.secret(secret.name));
  if (holder) throw new LeaseHeldError(leaseKey.secret(secret.name), holder);
  const token = await deps.store.startRotation!();
  if (!token) throw new Error('RotateSecret did not return the new version id');
  const print = progressPrinter(ctx);
  const started = systemClock.now().getTime();
  // Bounded by the timeout: one DescribeSecret every 3 seconds.
  for (let i = 0; i < Math.ceil(limitMs / 3_000) + 1; i++) {
    const secretState = await deps.store.describe();
    const stages = secretState.versions.find((v) => v.versionId === token)?.stages ?? [];
    if (stages.includes(STAGE.CURRENT)) return token;
    const recorded = progressTags(secretState.tags, systemClock.now());
    if (!stages.includes(STAGE.PENDING)) {
      throw new Error(
        `the rotation Lambda rolled rotation ${token} back` +
          (recorded?.lastError ? ` (${recorded.lastError})` : '; the alert and the function log say why') +
          `. Secrets Manager tries again at the next scheduled rotation${secretState.nextRotationAt ? ` (${secretState.nextRotationAt.toISOString()})` : ''}; ` +
          `fix the cause and run "origin-guard rotate --secret ${secret.name}" to try now`,
      );
    }
    const phase = recorded?.waitingFor
      ? `${recorded.waitingFor} (${recorded.step ?? 'rotation Lambda'})`
      : secretState.tags[TAG.VALIDATORS_SET_AT]
        ? 'the rotation Lambda to test and switch senders'
        : 'the rotation Lambda to set validators';
    print({
      secret: secret.name,
      step: recorded?.step?.startsWith('testSecret') ? 'testSecret' : 'setSecret',
      phase: 'wait',
      message: phase,
      waitingFor: recorded?.lastError ? `${phase}; last error: ${recorded.lastError}` : phase,
      waitedMs: systemClock.now().getTime() - started,
      ...(recorded?.until ? { until: new Date(recorded.until) } : {}),
    });
    if (systemClock.now().getTime() - started > limitMs) break;
    await systemClock.sleep(3_000);
  }
  throw new Error(`rotation ${token} did not finish within ${Math.round(limitMs / 60_000)} minutes; "origin-guard status" shows where it stands`);
}

async function rotateOne(
  secret: SecretConfig,
  options: { local: boolean; emergency: boolean; limitMs: number; quiet: boolean },
  env: { clients: AwsClients; accounts?: AccountClients; alerts?: AlertPort; log: LogPort; fetch?: typeof fetch; leases?: LeasePort },
  ctx: CliContext,
): Promise<RotateOutcome> {
  const deps = rotationDeps(
    secret,
    { clients: env.clients, accounts: env.accounts, logger: env.log, alerts: env.alerts, fetch: env.fetch, clock: clockWithBudget(systemClock, options.limitMs) },
    // The CLI's --timeout is its own budget, not a kill: keep a short margin for read-backs and rollback.
    { onProgress: progressPrinter(ctx, { quiet: options.quiet }), leases: env.leases, deadlineMarginMs: CLI_DEADLINE_MARGIN_MS },
  );
  try {
    if (options.local) {
      const result = await rotateInProcess(secret, deps, { emergency: options.emergency, propagationTimeoutMs: options.limitMs });
      return {
        name: secret.name,
        status: 'rotated',
        token: result.token,
        resumed: result.resumed,
        overlap: result.retire?.status === 'retired' ? 'retired' : 'open',
        retire: result.retire,
      };
    }
    const token = await followDeployedRotation(deps, secret, ctx, options.limitMs);
    if (!options.emergency) return { name: secret.name, status: 'rotated', token, overlap: 'open' };
    // The flag names the rotation it belongs to, set once that rotation is AWSCURRENT (only retire reads it).
    // The deployed function has moved AWSCURRENT but may hold the lease a moment longer (finishSecret's last writes).
    await whenLeaseFree(deps, { timeoutMs: options.limitMs }, () =>
      withSecretLease(secret, deps, 'rotate --emergency', (held) => held.store.setTags({ [TAG.EMERGENCY]: token })),
    );
    const result = await waitAndRetire(secret, deps, { timeoutMs: options.limitMs });
    return { name: secret.name, status: 'rotated', token, overlap: result.status === 'retired' ? 'retired' : 'open', retire: result };
  } catch (error) {
    return { name: secret.name, status: 'failed', error: describeError(error) };
  }
}

export interface RotateCommandDeps {
  /** Overrides for tests and the demo: clients, HTTP client, logger. */
  clients?: AwsClients;
  fetch?: typeof fetch;
  log?: LogPort;
}

export function makeRotateCommand(injected: RotateCommandDeps = {}): Command {
  return async (argv, ctx) => {
    const { values } = parseFlags(argv, {
      secret: { type: 'string' },
      local: { type: 'boolean', default: false },
      emergency: { type: 'boolean', default: false },
      timeout: { type: 'string' },
    });
    if (values.help) {
      ctx.stdout(ROTATE_HELP);
      return 0;
    }
    const config = loadCliConfig(values.config, ctx.env, values.account);
    const secrets = selectSecrets(config, values.secret);
    const limitMs = timeoutMs(values.timeout);
    const clients = injected.clients ?? cliClients(config);
    const alerts = await cliAlerts(config, clients);
    const leases = await cliLeases(config, clients, (message) => ctx.stderr(`origin-guard rotate: warning: ${message}`));
    const outcomes: RotateOutcome[] = [];
    for (const secret of secrets) {
      const outcome = await rotateOne(
        secret,
        { local: values.local, emergency: values.emergency, limitMs, quiet: false },
        { clients, accounts: accountClientsOf(config, clients, 'rotate'), alerts, log: injected.log ?? silentLog, fetch: injected.fetch, leases },
        ctx,
      );
      outcomes.push(outcome);
      if (!values.json) {
        ctx.stdout(
          outcome.status === 'rotated'
            ? `${secret.name}: rotated${outcome.resumed ? ' (resumed an unfinished rotation)' : ''}; overlap ${outcome.overlap}` +
                (outcome.overlap === 'open'
                  ? values.emergency
                    ? ` (still waiting for ${outcome.retire?.reason}; run "origin-guard retire --secret ${secret.name} --wait")`
                    : `: old and new values accepted until "origin-guard retire" (after ${secret.overlapMinutes} min and sender propagation)`
                  : ': only the new value is accepted')
            : `${secret.name}: FAILED: ${outcome.error}`,
        );
      }
    }
    if (values.json) ctx.stdout(JSON.stringify({ secrets: outcomes }, null, 2));
    return outcomes.some((o) => o.status === 'failed') ? 1 : 0;
  };
}

export function makeRetireCommand(injected: RotateCommandDeps = {}): Command {
  return async (argv, ctx) => {
    const { values } = parseFlags(argv, {
      secret: { type: 'string' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string' },
    });
    if (values.help) {
      ctx.stdout(RETIRE_HELP);
      return 0;
    }
    const config = loadCliConfig(values.config, ctx.env, values.account);
    const secrets = selectSecrets(config, values.secret);
    const limitMs = timeoutMs(values.timeout);
    const clients = injected.clients ?? cliClients(config);
    const leases = await cliLeases(config, clients, (message) => ctx.stderr(`origin-guard retire: warning: ${message}`));
    const results: Array<{ name: string; status: string; reason: string }> = [];
    for (const secret of secrets) {
      const deps = rotationDeps(secret, { clients, accounts: accountClientsOf(config, clients, 'rotate'), logger: injected.log ?? silentLog, fetch: injected.fetch }, { onProgress: progressPrinter(ctx), leases });
      try {
        const result = values.wait ? await waitAndRetire(secret, deps, { timeoutMs: limitMs }) : await retire(secret, deps);
        results.push({ name: secret.name, status: result.status, reason: result.reason });
      } catch (error) {
        results.push({ name: secret.name, status: 'error', reason: describeError(error) });
      }
    }
    if (values.json) ctx.stdout(JSON.stringify({ secrets: results }, null, 2));
    else for (const r of results) ctx.stdout(`${r.name}: ${r.status === 'waiting' ? `waiting for ${r.reason}` : `${r.status} (${r.reason})`}`);
    return results.some((r) => r.status === 'error') ? 1 : 0;
  };
}

const ADOPT_HELP = `Usage: origin-guard adopt [--secret NAME] [--json] [--config FILE]

Onboarding: stores the header value your senders send today (e.g. the X-Origin-Verify on the CloudFront origin)
as the secret's AWSCURRENT, so that the first rotation starts from the value in use. The secret that
"cdk deploy" creates starts with a random value, and "origin-guard rotate" refuses to start while senders send
something else. Requires every sender to send one value and every validator to accept it; changes no target.

  --json   print {"secrets":[{"name","status","fingerprint","error"}]}`;

export function makeAdoptCommand(injected: RotateCommandDeps = {}): Command {
  return async (argv, ctx) => {
    const { values } = parseFlags(argv, { secret: { type: 'string' } });
    if (values.help) {
      ctx.stdout(ADOPT_HELP);
      return 0;
    }
    const config = loadCliConfig(values.config, ctx.env, values.account);
    const secrets = selectSecrets(config, values.secret);
    const clients = injected.clients ?? cliClients(config);
    const leases = await cliLeases(config, clients, (message) => ctx.stderr(`origin-guard adopt: warning: ${message}`));
    const results: Array<{ name: string; status: string; fingerprint?: string; error?: string }> = [];
    for (const secret of secrets) {
      const deps = rotationDeps(secret, { clients, accounts: accountClientsOf(config, clients, 'rotate'), logger: injected.log ?? silentLog, fetch: injected.fetch }, { leases });
      try {
        const result = await adopt(secret, deps);
        results.push({ name: secret.name, status: result.status, fingerprint: result.fingerprint });
      } catch (error) {
        results.push({ name: secret.name, status: 'error', error: describeError(error) });
      }
    }
    if (values.json) ctx.stdout(JSON.stringify({ secrets: results }, null, 2));
    else {
      for (const r of results) {
        ctx.stdout(
          r.status === 'error'
            ? `${r.name}: not adopted: ${r.error}`
            : `${r.name}: ${r.status === 'adopted' ? 'adopted' : 'already holds'} the value senders send (${r.fingerprint}) as AWSCURRENT`,
        );
      }
    }
    return results.some((r) => r.status === 'error') ? 1 : 0;
  };
}

export const rotateCommand: Command = makeRotateCommand();
export const adoptCommand: Command = makeAdoptCommand();
export const retireCommand: Command = makeRetireCommand();
