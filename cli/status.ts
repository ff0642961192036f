/**
 * `origin-guard status`: per secret, its versions and stages (age, fingerprint), whether a rotation or an
 * overlap is open, what every sender sends and every validator accepts (by fingerprint), and the next rotation.
 */
import type { SecretConfig } from '../lambdas/config.ts';
import { describeError } from '../lambdas/core/errors.ts';
import { fingerprint } from '../lambdas/core/fingerprint.ts';
import { silentLog, systemClock, type Clock, type LogPort } from '../lambdas/core/ports.ts';
import { acceptedVersionIds, progressTags, rotationView, type RotationProgressTags } from '../lambdas/core/rotation-state.ts';
import { accountClientsOf, type AccountClients } from '../lambdas/adapters/account-clients.ts';
import { buildRotationTargets } from '../lambdas/adapters/rotation-targets.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import type { Command } from './context.ts';
import { cliClients, loadCliConfig, parseFlags } from './runtime.ts';
import { accountRegionTitle } from './accounts.ts';

const HELP = `Usage: origin-guard status [--secret NAME] [--json] [--config FILE]

For each secret: versions and stages with age and fingerprint (first 8 hex of SHA-256; never the value), the
rotation and overlap state, what each sender sends and each validator accepts, and the next scheduled rotation.
Exits 1 when a sender sends, or a validator accepts, something the rotation state does not allow.`;

export interface SecretStatus {
  name: string;
  secretName: string;
  versions: Array<{ versionId: string; stages: string[]; ageSeconds?: number; fingerprint?: string }>;
  rotating: boolean;
  overlap: { open: boolean; openedAt?: string; windowEndsAt?: string; emergency: boolean };
  expected: { sends: string; accepts: string[] };
  /** `account` / `region`: where the target lives, when the config places it (several accounts and regions). */
  senders: Array<{ id: string; sending?: string[]; propagated?: boolean; detail?: string; ok: boolean; error?: string; account?: string; region?: string }>;
  validators: Array<{ id: string; accepts?: string[]; ok: boolean; error?: string; account?: string; region?: string }>;
  rotationEnabled: boolean;
  lastRotatedAt?: string;
  nextRotationAt?: string;
  /** What the rotation recorded in the secret's tags: step, what it waits for, until when (ETA), last error. */
  progress?: RotationProgressTags;
  error?: string;
}

export async function secretStatus(
  secret: SecretConfig,
  env: { clients: AwsClients; accounts?: AccountClients; fetch?: typeof fetch; clock?: Clock; log?: LogPort },
): Promise<SecretStatus> {
  const clock = env.clock ?? systemClock;
  const { store, senders, validators } = buildRotationTargets(secret, env);
  const base: SecretStatus = {
    name: secret.name,
    secretName: secret.secretName,
    versions: [],
    rotating: false,
    overlap: { open: false, emergency: false },
    expected: { sends: '', accepts: [] },
    senders: [],
    validators: [],
    rotationEnabled: false,
  };
  let described;
  try {
    described = await store.describe({ versionDates: true });
  } catch (error) {
    return { ...base, error: describeError(error) };
  }
  const view = rotationView(described);
  const now = clock.now();
  const fingerprints = new Map<string, string>();
  for (const version of described.versions) {
    const value = await store.value({ versionId: version.versionId });
    if (value !== undefined) fingerprints.set(version.versionId, fingerprint(value));
  }
  for (const id of acceptedVersionIds(view)) {
    if (!fingerprints.has(id)) {
      const value = await store.value({ versionId: id });
      if (value !== undefined) fingerprints.set(id, fingerprint(value));
    }
  }
  const expectedAccepts = acceptedVersionIds(view).map((id) => fingerprints.get(id) ?? '?');
  const current = view.currentVersionId ? await store.value({ versionId: view.currentVersionId }) : undefined;
  // While the overlap is open, senders may still send the previous value until they have propagated.
  const allowedSends = new Set(expectedAccepts);

  const placedAt = (item: object | undefined) => {
    const { account, region } = (item ?? {}) as { account?: string; region?: string };
    return { ...(account !== undefined ? { account } : {}), ...(region !== undefined ? { region } : {}) };
  };
  const senderStates: SecretStatus['senders'] = [];
  for (const [i, sender] of senders.entries()) {
    try {
      const sending = (await sender.sending())?.map(fingerprint);
      const propagation = current ? await sender.propagated(current, view.overlapOpenedAt, now) : undefined;
      senderStates.push({
        id: sender.id,
        ...placedAt(secret.senders[i]),
        sending,
        propagated: propagation?.done,
        detail: propagation?.detail,
        // A write-only store (Konnect) cannot show its value: it is ok only when confirmed to hold the current one.
        ok: sending === undefined ? propagation?.done === true : sending.length > 0 && sending.every((f) => allowedSends.has(f)),
      });
    } catch (error) {
      senderStates.push({ id: sender.id, ...placedAt(secret.senders[i]), ok: false, error: describeError(error) });
    }
  }
  const validatorStates: SecretStatus['validators'] = [];
  for (const [i, validator] of validators.entries()) {
    try {
      const accepts = (await validator.accepted()).map(fingerprint);
      const ok = accepts.length === expectedAccepts.length && expectedAccepts.every((f) => accepts.includes(f));
      validatorStates.push({ id: validator.id, ...placedAt(secret.validators[i]), accepts, ok });
    } catch (error) {
      validatorStates.push({ id: validator.id, ...placedAt(secret.validators[i]), ok: false, error: describeError(error) });
    }
  }
  const next =
    described.nextRotationAt ??
    (described.lastRotatedAt ? new Date(described.lastRotatedAt.getTime() + secret.rotationDays * 86_400_000) : undefined);
  return {
    ...base,
    versions: described.versions.map((v) => ({
      versionId: v.versionId,
      stages: v.stages,
      ageSeconds: v.createdAt ? Math.round((now.getTime() - v.createdAt.getTime()) / 1000) : undefined,
      fingerprint: fingerprints.get(v.versionId),
    })),
    rotating: view.rotating,
    overlap: {
      open: view.overlapOpenedAt !== undefined,
      openedAt: view.overlapOpenedAt?.toISOString(),
      windowEndsAt: view.overlapOpenedAt ? new Date(view.overlapOpenedAt.getTime() + secret.overlapMinutes * 60_000).toISOString() : undefined,
      emergency: view.emergency,
    },
    expected: { sends: view.currentVersionId ? (fingerprints.get(view.currentVersionId) ?? '?') : '?', accepts: expectedAccepts },
    senders: senderStates,
    validators: validatorStates,
    rotationEnabled: described.rotationEnabled,
    lastRotatedAt: described.lastRotatedAt?.toISOString(),
    nextRotationAt: next?.toISOString(),
    progress: progressTags(described.tags, now),
  };
}

/** One line for the recorded progress, or none. */
export function formatProgress(progress: RotationProgressTags | undefined): string[] {
  if (!progress) return [];
  const lines: string[] = [];
  if (progress.step) {
    lines.push(
      `  progress: ${progress.step}` +
        (progress.waitingFor ? `, waiting for ${progress.waitingFor}` : '') +
        (progress.until ? ` until ${progress.until} (ETA ${progress.etaSeconds} s)` : ''),
    );
  }
  if (progress.lastError) lines.push(`  last error: ${progress.lastError}`);
  return lines;
}

function age(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

/** ` [account edge · us-east-1]` for a placed target, nothing for one in the hub. */
function where(target: { account?: string; region?: string }): string {
  return target.account === undefined && target.region === undefined ? '' : ` [${accountRegionTitle(target.account, target.region)}]`;
}

export function formatStatus(statuses: SecretStatus[]): string {
  const lines: string[] = [];
  for (const s of statuses) {
    lines.push(`${s.name} (${s.secretName})`);
    if (s.error) {
      lines.push(`  ERROR: ${s.error}`, '');
      continue;
    }
    for (const v of s.versions) lines.push(`  version ${v.versionId.slice(0, 8)}  ${v.fingerprint ?? '????????'}  ${v.stages.join(',').padEnd(24)} ${age(v.ageSeconds)} old`);
    const state = s.rotating
      ? 'rotation under way (pending value accepted by validators)'
      : s.overlap.open
        ? `overlap open since ${s.overlap.openedAt}${s.overlap.emergency ? ' (emergency: retires as soon as senders propagated)' : `, window ends ${s.overlap.windowEndsAt}`}`
        : 'settled: only the current value is accepted';
    lines.push(`  state: ${state}`);
    lines.push(...formatProgress(s.progress));
    lines.push(`  expected: senders send ${s.expected.sends}; validators accept ${s.expected.accepts.join(' + ')}`);
    for (const sender of s.senders) {
      lines.push(
        `  ${sender.ok ? 'ok ' : 'BAD'} sender    ${sender.id}${where(sender)}: ` +
          (sender.error ?? `sends ${sender.sending === undefined ? 'a value it cannot show' : sender.sending.join(', ') || 'nothing'}${sender.detail ? ` (${sender.detail})` : ''}`),
      );
    }
    for (const validator of s.validators) {
      lines.push(`  ${validator.ok ? 'ok ' : 'BAD'} validator ${validator.id}${where(validator)}: ` + (validator.error ?? `accepts ${validator.accepts?.join(' + ') || 'nothing'}`));
    }
    lines.push(
      `  next rotation: ${s.nextRotationAt ?? (s.rotationEnabled ? 'scheduled by Secrets Manager' : 'not scheduled (rotation is not enabled: deploy the stack)')}`,
      '',
    );
  }
  return lines.join('\n');
}

export function makeStatusCommand(injected: { clients?: AwsClients; fetch?: typeof fetch } = {}): Command {
  return async (argv, ctx) => {
    const { values } = parseFlags(argv, { secret: { type: 'string' } });
    if (values.help) {
      ctx.stdout(HELP);
      return 0;
    }
    const config = loadCliConfig(values.config, ctx.env, values.account);
    const clients = injected.clients ?? cliClients(config);
    const secrets = values.secret ? config.secrets.filter((s) => s.name === values.secret || s.secretName === values.secret) : config.secrets;
    if (values.secret && secrets.length === 0) {
      ctx.stderr(`origin-guard status: --secret ${values.secret}: no such secret (configured: ${config.secrets.map((s) => s.name).join(', ')})`);
      return 2;
    }
    const statuses: SecretStatus[] = [];
    for (const secret of secrets) statuses.push(await secretStatus(secret, { clients, accounts: accountClientsOf(config, clients, 'rotate'), fetch: injected.fetch, log: silentLog }));
    ctx.stdout(values.json ? JSON.stringify({ secrets: statuses }, null, 2) : formatStatus(statuses));
    const healthy = statuses.every((s) => !s.error && s.senders.every((x) => x.ok) && s.validators.every((x) => x.ok));
    return healthy ? 0 : 1;
  };
}

export const statusCommand: Command = makeStatusCommand();
