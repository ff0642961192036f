/**
 * The overlap rotation of one origin-verify secret, on Secrets Manager's four-step contract plus `retire`.
 *
 *   createSecret  a new random value becomes AWSPENDING
 *   setSecret     every validator accepts {current, pending}
 *   testSecret    validator propagation has passed; read back every validator; optional probe
 *   finishSecret  every sender sends pending; AWSCURRENT moves to it; the overlap opens
 *   retire        once the overlap has passed and every sender has propagated, validators accept only current
 *
 * Every step is idempotent and safe to re-run with the same token after a crash. A step that fails puts
 * senders and validators back to what they accepted before, clears AWSPENDING, alerts, and throws
 * RotationFailedError naming the target. Secret values never leave this module except to the ports;
 * logs, errors and progress carry fingerprints.
 */
import { randomBytes } from 'node:crypto';
import { describeError, LeaseHeldError, LeaseLostError, RotationFailedError, RotationStateError, RotationStoppedError, TargetError } from './errors.ts';
import { fingerprint } from './fingerprint.ts';
import { leaseKey, type Lease, type LeasePort } from './lease.ts';
import {
  PROGRESS_TAGS,
  STAGE,
  TAG,
  tagText,
  type AlertPort,
  type Clock,
  type Finding,
  type LogPort,
  type ProbePort,
  type SecretDescription,
  type SecretStorePort,
  type SenderPort,
  type ValidatorPort,
} from './ports.ts';
import { acceptedVersionIds, rotationView, type RotationView } from './rotation-state.ts';

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** What the rotation needs to know of a secret's configuration. */
export interface RotationSettings {
  name: string;
  headerName: string;
  overlapMinutes: number;
  probeUrl?: string;
  /** The status the origin answers a wrong value with (Kong: 404, WAF: 403); absent: any 4xx. */
  probeRefusedStatus?: number;
}

/** How long a writer holds a secret's lease between extensions; a holder that waits extends it each poll. */
export const LEASE_DURATION_MS = 120_000;
/**
 * Time a step keeps after its last wait for read-backs, probes and, if they fail, the rollback and its alert.
 * A step whose deadline is nearer than its wait plus this margin stops cleanly instead of starting the wait.
 */
export const DEADLINE_MARGIN_MS = 120_000;

export interface RotationProgress {
  secret: string;
  step: RotationStep | 'retire' | 'rollback';
  phase: 'start' | 'done' | 'wait' | 'skip' | 'fail' | 'stop';
  message: string;
  /** For `wait`: how long we have waited so far and what for. */
  waitedMs?: number;
  waitingFor?: string;
  /** For `wait`: when the wait ends (the ETA). */
  until?: Date;
}

export interface RotationDeps {
  store: SecretStorePort;
  senders: SenderPort[];
  validators: ValidatorPort[];
  clock: Clock;
  log: LogPort;
  alerts?: AlertPort;
  probe?: ProbePort;
  onProgress?: (event: RotationProgress) => void;
  /** A new header value; default 32 random bytes, base64url (43 header-safe characters). */
  generateValue?: () => string;
  /**
   * One writer per secret: every writer (rotation steps, retire, `rotate --local`, adopt, emergency) takes the
   * secret's lease first and re-checks it before each write. The Lambdas and the CLI always pass one; without
   * it (single-writer unit tests, the demo) nothing is serialized.
   */
  leases?: LeasePort;
  /** Time kept after the last wait before the deadline; default DEADLINE_MARGIN_MS (the CLI, which no one kills, keeps less). */
  deadlineMarginMs?: number;
}

export function generateHeaderValue(): string {
  return randomBytes(32).toString('base64url');
}

// ---------- helpers ----------

interface Snapshot {
  secret: SecretDescription;
  view: RotationView;
}

async function snapshot(deps: RotationDeps): Promise<Snapshot> {
  const secret = await deps.store.describe();
  return { secret, view: rotationView(secret) };
}

async function valueOf(deps: RotationDeps, versionId: string): Promise<string> {
  const value = await deps.store.value({ versionId });
  if (value === undefined) {
    throw new RotationStateError(`${deps.store.secretId}: version ${versionId} has no value; the secret was changed outside origin-guard`);
  }
  return value;
}

function hasVersion(secret: SecretDescription, versionId: string): boolean {
  return secret.versions.some((v) => v.versionId === versionId);
}

function stagesOf(secret: SecretDescription, versionId: string): string[] {
  return secret.versions.find((v) => v.versionId === versionId)?.stages ?? [];
}

function progress(deps: RotationDeps, event: RotationProgress): void {
  deps.onProgress?.(event);
}

/** The lease a step holds, if any: `waitFor` extends it, so a long wait never lets it lapse. */
type Held = RotationDeps & { lease?: Lease };

/**
 * Wait out a fixed delay that a target imposes, reporting progress every few seconds and extending the lease.
 * Refuses to start a wait that would run past the deadline minus the margin: stops cleanly instead
 * (RotationStoppedError), with what it waits for and until when recorded in the secret's tags.
 */
async function waitFor(deps: Held, settings: RotationSettings, step: RotationStep, ms: number, waitingFor: string, token: string) {
  const started = deps.clock.now().getTime();
  const deadline = started + ms;
  const until = new Date(deadline);
  await deps.store.setTags({
    [TAG.PROGRESS_STEP]: tagText(`${step} ${token}`),
    [TAG.PROGRESS_WAITING_FOR]: tagText(waitingFor),
    [TAG.PROGRESS_UNTIL]: until.toISOString(),
  });
  const left = deps.clock.remainingMs?.();
  if (left !== undefined && left < ms + (deps.deadlineMarginMs ?? DEADLINE_MARGIN_MS)) {
    throw new RotationStoppedError(
      settings.name,
      step,
      `Rotation of ${settings.name} stopped in ${step} before its deadline: ${Math.ceil(ms / 1000)} s of ${waitingFor} remain (until ${until.toISOString()}) ` +
        `but only ${Math.max(0, Math.floor(left / 1000))} s of run time. Nothing was rolled back: validators accept the current and the pending value, ` +
        `senders send the current one. The next run of the rotation resumes here without waiting again for what already propagated.`,
    );
  }
  // Bounded: at most ms / 5 s + 1 iterations.
  for (let now = started; now < deadline; now = deps.clock.now().getTime()) {
    progress(deps, { secret: settings.name, step, phase: 'wait', message: `waiting for ${waitingFor}`, waitedMs: now - started, waitingFor, until });
    await deps.lease?.extend(LEASE_DURATION_MS);
    await deps.clock.sleep(Math.min(5_000, deadline - now));
  }
  await deps.lease?.extend(LEASE_DURATION_MS);
}

// ---------- the lease ----------

/** Every write to a target first checks that the lease is still ours (it can lapse under a long pause). */
function guarded(deps: RotationDeps, lease: Lease): Held {
  const check = () => lease.check();
  const store = deps.store;
  return {
    ...deps,
    lease,
    store: {
      secretId: store.secretId,
      describe: (options) => store.describe(options),
      value: (ref) => store.value(ref),
      putPending: async (token, value) => (await check(), store.putPending(token, value)),
      moveStage: async (stage, to, from) => (await check(), store.moveStage(stage, to, from)),
      setTags: async (tags) => (await check(), store.setTags(tags)),
      removeTags: async (keys) => (await check(), store.removeTags(keys)),
      // No startRotation: the steps never start a rotation (`origin-guard rotate` asks Secrets Manager to, outside
      // any lease, and the steps it triggers take the lease themselves).
    },
    senders: deps.senders.map((sender) => ({
      id: sender.id,
      send: async (value: string) => (await check(), sender.send(value)),
      sending: () => sender.sending(),
      propagated: (value: string, since: Date | undefined, now: Date) => sender.propagated(value, since, now),
      ...(sender.preflight ? { preflight: () => sender.preflight!() } : {}),
    })),
    validators: deps.validators.map((validator) => ({
      id: validator.id,
      propagationSeconds: validator.propagationSeconds,
      followsSecret: validator.followsSecret,
      accept: async (values: string[]) => (await check(), validator.accept(values)),
      accepted: () => validator.accepted(),
      ...(validator.preflight ? { preflight: () => validator.preflight!() } : {}),
    })),
  };
}

/**
 * Runs `work` holding the secret's lease (when the deps have a LeasePort), with every target write guarded.
 * A writer that finds the lease held throws LeaseHeldError naming the holder, before it changed anything.
 */
export async function withSecretLease<T>(settings: RotationSettings, deps: RotationDeps, purpose: string, work: (deps: Held) => Promise<T>): Promise<T> {
  if (!deps.leases) return work(deps);
  const lease = await deps.leases.acquire(leaseKey.secret(settings.name), purpose, LEASE_DURATION_MS);
  try {
    return await work(guarded(deps, lease));
  } finally {
    await lease.release().catch((error) => deps.log.warn('could not release the lease', { secret: settings.name, error: describeError(error) }));
  }
}

// ---------- the four steps ----------

/**
 * Runs one step for `token`. Returns quietly when the step has nothing left to do (a retry after a crash,
 * or a rotation that already finished).
 */
export async function runRotationStep(
  step: RotationStep,
  token: string,
  settings: RotationSettings,
  deps: RotationDeps,
  options: { purpose?: string } = {},
): Promise<void> {
  try {
    await withSecretLease(settings, deps, options.purpose ?? `rotation ${step} (token ${token})`, (held) => runStep(step, token, settings, held));
  } catch (error) {
    if (error instanceof LeaseHeldError) {
      deps.log.warn('rotation step refused: another writer holds the secret', { secret: settings.name, step, token, error: error.message });
      progress(deps, { secret: settings.name, step, phase: 'fail', message: error.message });
    }
    throw error;
  }
}

async function runStep(step: RotationStep, token: string, settings: RotationSettings, deps: Held): Promise<void> {
  const log = deps.log;
  log.info('rotation step started', { secret: settings.name, step, token });
  progress(deps, { secret: settings.name, step, phase: 'start', message: stepTitle(step) });
  try {
    switch (step) {
      case 'createSecret':
        await createSecret(token, settings, deps);
        break;
      case 'setSecret':
        await setSecret(token, settings, deps);
        break;
      case 'testSecret':
        await testSecret(token, settings, deps);
        break;
      case 'finishSecret':
        await finishSecret(token, settings, deps);
        break;
    }
  } catch (error) {
    if (error instanceof RotationStoppedError) {
      log.warn('rotation step stopped before its deadline', { secret: settings.name, step, token, error: error.message });
      progress(deps, { secret: settings.name, step, phase: 'stop', message: error.message });
      await recordError(deps, settings, error.message);
      await publishFailure(deps, settings, step, undefined, error.message, 'stopped');
      throw error;
    }
    // A lost lease means another writer owns the secret now: no rollback, which would fight it (every write is
    // refused anyway); it finishes or rolls back itself.
    if (error instanceof RotationStateError || error instanceof RotationFailedError || error instanceof LeaseHeldError || error instanceof LeaseLostError) {
      log.error('rotation step refused or failed', { secret: settings.name, step, token, error: describeError(error) });
      progress(deps, { secret: settings.name, step, phase: 'fail', message: error.message });
      // A refusal changed nothing, but the secret is not rotating: the operator must hear about it.
      if (error instanceof RotationStateError) {
        await clearEmergency(deps, token);
        await recordError(deps, settings, `${step} refused: ${error.message}`);
        await publishFailure(deps, settings, step, undefined, `Rotation of ${settings.name} refused in ${step}: ${error.message}`, 'refused');
      }
      throw error;
    }
    throw await rollBack(step, token, settings, deps, error);
  }
  await clearProgress(deps, settings, step === 'finishSecret' ? [TAG.LAST_ERROR] : []);
  log.info('rotation step done', { secret: settings.name, step, token });
  progress(deps, { secret: settings.name, step, phase: 'done', message: stepTitle(step) });
}

/** Progress tags are a courtesy to `status`: failing to write them never fails a step. */
async function recordError(deps: RotationDeps, settings: RotationSettings, message: string): Promise<void> {
  await deps.store
    .setTags({ [TAG.LAST_ERROR]: tagText(`${deps.clock.now().toISOString()} ${message}`) })
    .catch((error) => deps.log.warn('could not record the error in the secret tags', { secret: settings.name, error: describeError(error) }));
}

async function clearProgress(deps: RotationDeps, settings: RotationSettings, more: string[]): Promise<void> {
  const { tags } = await deps.store.describe().catch(() => ({ tags: {} as Record<string, string> }));
  const keys = [...PROGRESS_TAGS, ...more].filter((k) => tags[k] !== undefined);
  if (keys.length === 0) return;
  await deps.store.removeTags(keys).catch((error) => deps.log.warn('could not clear the progress tags', { secret: settings.name, error: describeError(error) }));
}

/** The emergency flag belongs to one rotation: cleared when that rotation is refused or rolled back. */
async function clearEmergency(deps: RotationDeps, token: string): Promise<void> {
  try {
    const { tags } = await deps.store.describe();
    if (tags[TAG.EMERGENCY] !== undefined && (tags[TAG.EMERGENCY] === token || tags[TAG.EMERGENCY] === 'true')) await deps.store.removeTags([TAG.EMERGENCY]);
  } catch (error) {
    deps.log.warn('could not clear the emergency flag', { token, error: describeError(error) });
  }
}

function stepTitle(step: RotationStep): string {
  return {
    createSecret: 'create a new value (AWSPENDING)',
    setSecret: 'validators accept current + pending',
    testSecret: 'validators propagated and verified',
    finishSecret: 'senders switch; AWSCURRENT moves',
  }[step];
}

async function createSecret(token: string, settings: RotationSettings, deps: RotationDeps): Promise<void> {
  let { secret, view } = await snapshot(deps);
  if (stagesOf(secret, token).includes(STAGE.CURRENT)) return; // finished already
  if (!view.currentVersionId) {
    throw new RotationStateError(`${settings.name}: the secret has no AWSCURRENT version; create it with an initial value first`);
  }
  if (view.pendingVersionId && view.pendingVersionId !== token) {
    throw new RotationStateError(
      `${settings.name}: an earlier rotation (token ${view.pendingVersionId}) has not finished. ` +
        `Resume it with "origin-guard rotate --secret ${settings.name} --local", which completes it safely.`,
    );
  }
  // Secrets Manager's RotateSecret labels an empty version `token` AWSPENDING before it calls createSecret, and
  // unlabelled versions are not listed by DescribeSecret: ask for the token's value directly.
  const existing = await deps.store.value({ versionId: token });
  if (view.pendingVersionId === token && existing !== undefined) return; // created already
  try {
    if (view.overlapOpenedAt) {
      const result = await retireUnleased(settings, deps, { rotationToken: token });
      if (result.status !== 'retired') {
        throw new RotationStateError(
          `${settings.name}: the overlap of the previous rotation is still open (waiting for ${result.reason}); ` +
            `a new rotation starts only after "origin-guard retire" has closed it`,
        );
      }
      ({ secret, view } = await snapshot(deps));
    }
    await requireSendersOnCurrent(settings, deps, view);
  } catch (error) {
    // Refused before anything changed: take AWSPENDING off Secrets Manager's empty placeholder, which would
    // otherwise block every later rotation of the secret.
    if (existing === undefined && view.pendingVersionId === token) {
      await deps.store.moveStage(STAGE.PENDING, undefined, token).catch(() => undefined);
    }
    throw error;
  }
  if (existing !== undefined) {
    // A rolled-back attempt retried with the same token: reuse its value.
    await deps.store.moveStage(STAGE.PENDING, token, undefined);
  } else {
    const value = (deps.generateValue ?? generateHeaderValue)();
    await deps.store.putPending(token, value);
    deps.log.info('pending value created', { secret: settings.name, token, fingerprint: fingerprint(value) });
  }
}

/**
 * A rotation is only safe when every sender sends the current value: validators will accept {current, pending}
 * and nothing else. A sender that sends another value (or no header) would be refused from setSecret on, so
 * refuse to start and say how to fix it. Senders that cannot tell (write-only stores) are not blocking.
 */
async function requireSendersOnCurrent(settings: RotationSettings, deps: RotationDeps, view: RotationView): Promise<void> {
  const current = await valueOf(deps, view.currentVersionId!);
  // Observed propagation first: a target whose own settings break the configured waits refuses the rotation.
  const preflight: string[] = [];
  for (const target of [...deps.senders, ...deps.validators]) preflight.push(...((await target.preflight?.()) ?? []));
  if (preflight.length > 0) {
    throw new RotationStateError(`${settings.name}: refusing to rotate, nothing was changed: ${preflight.join('; ')}`);
  }
  const problems: string[] = [];
  for (const sender of deps.senders) {
    const sending = await sender.sending();
    if (sending === undefined) continue;
    if (sending.length === 1 && sending[0] === current) continue;
    problems.push(
      sending.length === 0
        ? `${sender.id} sends no ${settings.headerName} header`
        : `${sender.id} sends ${sending.map(fingerprint).join(' and ')}, not the current value ${fingerprint(current)}`,
    );
  }
  if (problems.length > 0) {
    throw new RotationStateError(
      `${settings.name}: refusing to rotate, validators would refuse what senders send: ${problems.join('; ')}. ` +
        `If the senders hold the value in use, run "origin-guard adopt --secret ${settings.name}" to store it as AWSCURRENT first; ` +
        `if a sender lacks the header, configure it first (README: onboarding).`,
    );
  }
}

/** The pending and current values, after checking that `token` is the rotation under way. */
async function pendingPair(token: string, settings: RotationSettings, deps: RotationDeps, step: RotationStep) {
  const { secret, view } = await snapshot(deps);
  if (stagesOf(secret, token).includes(STAGE.CURRENT)) return { finished: true as const, secret, view };
  if (view.pendingVersionId !== token) {
    throw new RotationStateError(
      `${settings.name}: ${step} for token ${token}, but that version is not AWSPENDING (it was rolled back or never created); start a new rotation`,
    );
  }
  const current = await valueOf(deps, view.currentVersionId!);
  const pending = await valueOf(deps, token);
  return { finished: false as const, secret, view, current, pending };
}

async function setSecret(token: string, settings: RotationSettings, deps: RotationDeps): Promise<void> {
  const pair = await pendingPair(token, settings, deps, 'setSecret');
  if (pair.finished) return;
  // A resumed rotation (Secrets Manager re-runs every step after a stop): when the validators already accept
  // both values since the recorded time, keep that time, so testSecret does not wait again for what propagated.
  if (pair.secret.tags[TAG.VALIDATORS_SET_AT] !== undefined && !Number.isNaN(Date.parse(pair.secret.tags[TAG.VALIDATORS_SET_AT]))) {
    let settled = true;
    for (const validator of deps.validators) {
      const accepted = await validator.accepted();
      if (!accepted.includes(pair.current) || !accepted.includes(pair.pending)) settled = false;
    }
    if (settled) {
      deps.log.info('validators already accept current + pending; keeping the propagation clock', { secret: settings.name, since: pair.secret.tags[TAG.VALIDATORS_SET_AT] });
      return;
    }
  }
  for (const validator of deps.validators) {
    await validator.accept([pair.current, pair.pending]);
    deps.log.info('validator accepts current + pending', {
      secret: settings.name,
      validator: validator.id,
      accepted: [fingerprint(pair.current), fingerprint(pair.pending)],
    });
  }
  await deps.store.setTags({ [TAG.VALIDATORS_SET_AT]: deps.clock.now().toISOString() });
}

async function testSecret(token: string, settings: RotationSettings, deps: RotationDeps): Promise<void> {
  const pair = await pendingPair(token, settings, deps, 'testSecret');
  if (pair.finished) return;
  const setAt = Date.parse(pair.secret.tags[TAG.VALIDATORS_SET_AT] ?? '');
  if (Number.isNaN(setAt)) {
    throw new RotationStateError(`${settings.name}: testSecret before setSecret finished for token ${token}; run setSecret first`);
  }
  // Requests reach many WAF / Kong nodes and cached readers: wait until the slowest has the change.
  const slowest = Math.max(0, ...deps.validators.map((v) => v.propagationSeconds * 1000));
  const remaining = setAt + slowest - deps.clock.now().getTime();
  if (remaining > 0) {
    const names = deps.validators.filter((v) => v.propagationSeconds * 1000 >= slowest).map((v) => v.id);
    await waitFor(deps, settings, 'testSecret', remaining, `validator propagation (${names.join(', ')})`, token);
  }
  for (const validator of deps.validators) {
    const accepted = await validator.accepted();
    for (const [label, value] of [
      ['current', pair.current],
      ['pending', pair.pending],
    ] as const) {
      if (!accepted.includes(value)) {
        throw new TargetError(validator.id, `read back does not accept the ${label} value (${fingerprint(value)}); it accepts [${accepted.map(fingerprint).join(', ')}]`);
      }
    }
  }
  if (settings.probeUrl && deps.probe) {
    await probeOrigin(settings, deps, pair.pending);
  }
}

/** How the origin answered one probe: accepted (2xx/3xx), refused (the configured refusal status), or neither. */
export function classifyProbe(result: { status?: number; error?: string }, refusedStatus: number | undefined): 'accepted' | 'refused' | 'inconclusive' {
  if (result.status === undefined) return 'inconclusive'; // network error or timeout: proves nothing
  if (result.status < 400) return 'accepted';
  if (refusedStatus === undefined ? result.status < 500 : result.status === refusedStatus) return 'refused';
  return 'inconclusive';
}

/**
 * The pending value must be accepted and a wrong value refused. A network error, a timeout or an unexpected
 * status proves neither: reported as inconclusive (log and progress), never as a refusal, and the read-backs
 * above stay the proof.
 */
async function probeOrigin(settings: RotationSettings, deps: RotationDeps, pending: string): Promise<void> {
  const url = settings.probeUrl!;
  const inconclusive = (what: string, result: { status?: number; error?: string }) => {
    const message = `probe ${url} inconclusive for the ${what} value (${result.status ?? result.error ?? 'no answer'}); relying on the read-backs`;
    deps.log.warn(message, { secret: settings.name });
    progress(deps, { secret: settings.name, step: 'testSecret', phase: 'skip', message });
  };
  const good = await deps.probe!.request(url, { [settings.headerName]: pending });
  const goodIs = classifyProbe(good, settings.probeRefusedStatus);
  if (goodIs === 'refused') {
    throw new TargetError(`probe:${url}`, `a request with the pending value was refused (${good.status}); a validator does not accept it yet`);
  }
  if (goodIs === 'inconclusive') inconclusive('pending', good);
  const forged = await deps.probe!.request(url, { [settings.headerName]: generateHeaderValue() });
  const forgedIs = classifyProbe(forged, settings.probeRefusedStatus);
  if (forgedIs === 'accepted') {
    throw new TargetError(`probe:${url}`, `a request with a wrong value was let through (${forged.status}); the origin does not enforce ${settings.headerName}`);
  }
  if (forgedIs === 'inconclusive') inconclusive('wrong', forged);
}

async function finishSecret(token: string, settings: RotationSettings, deps: RotationDeps): Promise<void> {
  const pair = await pendingPair(token, settings, deps, 'finishSecret');
  if (pair.finished) {
    // Re-run after the stage moved: make sure no sender was left behind and no pending label lingers.
    const value = await valueOf(deps, token);
    for (const sender of deps.senders) await sender.send(value);
    if (stagesOf(pair.secret, token).includes(STAGE.PENDING)) await deps.store.moveStage(STAGE.PENDING, undefined, token);
    // A crash after AWSCURRENT moved can leave this step's last write undone (unless a newer rotation owns the tag).
    if (!pair.view.rotating && pair.secret.tags[TAG.VALIDATORS_SET_AT] !== undefined) await deps.store.removeTags([TAG.VALIDATORS_SET_AT]);
    return;
  }
  // Someone (a concurrent retire, a config sync) may have narrowed a validator since testSecret: check again
  // right before the switch, so that senders never move to a value a validator would refuse.
  for (const validator of deps.validators) {
    if (validator.followsSecret) continue;
    const accepted = await validator.accepted();
    if (!accepted.includes(pair.pending) || !accepted.includes(pair.current)) {
      throw new TargetError(validator.id, `no longer accepts both the current and the pending value (it accepts [${accepted.map(fingerprint).join(', ')}]); senders were not switched`);
    }
  }
  for (const sender of deps.senders) {
    await sender.send(pair.pending);
    deps.log.info('sender switched', { secret: settings.name, sender: sender.id, fingerprint: fingerprint(pair.pending) });
  }
  // Tag first: until AWSCURRENT moves, the overlap version equals current and widens nothing.
  await deps.store.setTags({ [TAG.OVERLAP_OPENED_AT]: deps.clock.now().toISOString(), [TAG.OVERLAP_VERSION]: pair.view.currentVersionId! });
  await deps.store.moveStage(STAGE.CURRENT, token, pair.view.currentVersionId);
  await deps.store.moveStage(STAGE.PENDING, undefined, token);
  // The vault sender switched with the stage move just now: its TTL counts from here, not from the tag above.
  await deps.store.setTags({ [TAG.OVERLAP_OPENED_AT]: deps.clock.now().toISOString() });
  await deps.store.removeTags([TAG.VALIDATORS_SET_AT]);
}

// ---------- rollback ----------

/**
 * Puts every target back to the last good state after `step` failed, then alerts. Senders go back to the
 * current value. Validators go back to what they accepted before the rotation, unless a sender may already
 * have sent the pending value: then the pending value stays accepted as AWSPREVIOUS (the overlap), so edges
 * that still send it are not refused, and `retire` narrows once the senders have propagated.
 */
async function rollBack(step: RotationStep, token: string, settings: RotationSettings, deps: RotationDeps, error: unknown): Promise<RotationFailedError> {
  const target = error instanceof TargetError ? error.target : undefined;
  deps.log.error('rotation step failed; rolling back', { secret: settings.name, step, token, target, error: describeError(error) });
  progress(deps, { secret: settings.name, step: 'rollback', phase: 'start', message: `${step} failed: ${describeError(error)}` });
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (rollbackError) {
      problems.push(`${what}: ${describeError(rollbackError)}`);
    }
  };

  let restored = 'validators and senders';
  try {
    const { secret, view } = await snapshot(deps);
    const currentId = view.currentVersionId!;
    const current = await valueOf(deps, currentId);
    const sendersTouched = step === 'finishSecret';
    if (sendersTouched) {
      for (const sender of deps.senders) await attempt(`restore ${sender.id}`, () => sender.send(current));
      if (hasVersion(secret, token) && !stagesOf(secret, token).includes(STAGE.CURRENT)) {
        await attempt('keep the pending value accepted until senders propagate', async () => {
          // AWSPREVIOUS keeps the attempted version labelled (unlabelled versions get deleted by Secrets Manager).
          const previousId = secret.versions.find((v) => v.stages.includes(STAGE.PREVIOUS))?.versionId;
          await deps.store.setTags({ [TAG.OVERLAP_OPENED_AT]: deps.clock.now().toISOString(), [TAG.OVERLAP_VERSION]: token });
          if (previousId !== token) await deps.store.moveStage(STAGE.PREVIOUS, token, previousId);
          await deps.store.moveStage(STAGE.PENDING, undefined, token);
          await deps.store.removeTags([TAG.VALIDATORS_SET_AT]);
        });
        restored = 'senders (validators keep accepting the attempted value until retire)';
      }
    } else {
      const before = { ...view, pendingVersionId: undefined, rotating: false };
      const values = await Promise.all(acceptedVersionIds(before).map((id) => valueOf(deps, id)));
      for (const validator of deps.validators) await attempt(`restore ${validator.id}`, () => validator.accept(values));
      if (stagesOf(secret, token).includes(STAGE.PENDING)) {
        await attempt('clear AWSPENDING', () => deps.store.moveStage(STAGE.PENDING, undefined, token));
      }
      await attempt('clear the validators-set tag', () => deps.store.removeTags([TAG.VALIDATORS_SET_AT]));
    }
  } catch (readError) {
    problems.push(`read the secret: ${describeError(readError)}`);
  }

  const where = target ? ` at ${target}` : '';
  const message =
    `Rotation of ${settings.name} failed in ${step}${where}: ${describeError(error)}. ` +
    (problems.length === 0
      ? `Rolled back: ${restored} are back to the last good state and traffic keeps flowing.`
      : `Rollback was incomplete (${problems.join('; ')}); check these targets by hand with "origin-guard status".`);
  await clearEmergency(deps, token);
  await recordError(deps, settings, message);
  await clearProgress(deps, settings, []);
  const failure = new RotationFailedError(settings.name, step, target, message, { cause: error });
  progress(deps, { secret: settings.name, step: 'rollback', phase: problems.length ? 'fail' : 'done', message });
  await publishFailure(deps, settings, step, target, message, problems.length === 0 ? 'rolled-back' : 'rollback-incomplete');
  return failure;
}

/** `refused`: the step would not start (nothing changed); `rolled-back` / `rollback-incomplete`: it failed. */
async function publishFailure(
  deps: RotationDeps,
  settings: RotationSettings,
  step: string,
  target: string | undefined,
  message: string,
  outcome: 'refused' | 'rolled-back' | 'rollback-incomplete' | 'stopped',
) {
  if (!deps.alerts) return;
  const checkId = outcome === 'refused' ? 'rotation.refused' : outcome === 'stopped' ? 'rotation.stopped' : 'rotation.failed';
  const rolledBack = outcome !== 'rollback-incomplete' && outcome !== 'stopped';
  const finding: Finding = {
    id: `${checkId}:${settings.name}`,
    checkId,
    severity: outcome === 'refused' || outcome === 'stopped' ? 'MEDIUM' : rolledBack ? 'HIGH' : 'CRITICAL',
    status: 'FAIL',
    resource: settings.name,
    message,
    remediation:
      outcome === 'stopped'
        ? `Nothing to fix: Secrets Manager retries the rotation and it resumes where it stopped; "origin-guard status" shows its progress. ` +
          `If this repeats, the function timeout is too short for the configured propagation waits.`
        : `Fix ${target ?? 'the failing target'} (see the message), then run "origin-guard rotate --secret ${settings.name}". ` +
          `"origin-guard status" shows what every sender and validator holds now.`,
    details: { step, target, rolledBack, ...(outcome === 'stopped' ? { resumable: true } : {}) },
  };
  try {
    await deps.alerts.publish({ kind: 'FAILURE', finding });
  } catch (alertError) {
    deps.log.error('could not publish the rotation failure alert', { secret: settings.name, error: describeError(alertError) });
  }
}

// ---------- retire ----------

export type RetireResult =
  | { status: 'retired'; reason: string }
  | { status: 'nothing-to-retire'; reason: string }
  | { status: 'waiting'; reason: string; /** when the overlap window ends, if that is what we wait for */ until?: Date };

/**
 * Ends the overlap when it is safe: the overlap window has passed (skipped for an emergency rotation) and
 * every sender has propagated the current value. Never waits: returns `waiting` with the reason instead.
 */
export interface RetireOptions {
  /** createSecret retiring the previous overlap for this rotation: its own (empty) pending version is no obstacle. */
  rotationToken?: string;
  /** Keep the emergency flag whatever it names (the flag of `rotationToken` is always kept). */
  keepEmergency?: boolean;
}

export async function retire(settings: RotationSettings, deps: RotationDeps, options: RetireOptions = {}): Promise<RetireResult> {
  return withSecretLease(settings, deps, 'retire', (held) => retireUnleased(settings, held, options));
}

async function retireUnleased(settings: RotationSettings, deps: RotationDeps, options: RetireOptions = {}): Promise<RetireResult> {
  const { secret, view } = await snapshot(deps);
  const rotationUnderWay = (v: RotationView) => v.rotating && v.pendingVersionId !== options.rotationToken;
  if (!view.overlapOpenedAt) return { status: 'nothing-to-retire', reason: 'no overlap is open' };
  if (rotationUnderWay(view)) return { status: 'waiting', reason: 'the rotation under way to finish' };
  const now = deps.clock.now();
  const windowEnds = new Date(view.overlapOpenedAt.getTime() + settings.overlapMinutes * 60_000);
  // An emergency rotation starting while an overlap is open closes that overlap without waiting either.
  const emergency = view.emergency || (options.rotationToken !== undefined && secret.tags[TAG.EMERGENCY] === options.rotationToken);
  if (!emergency && now < windowEnds) {
    return { status: 'waiting', reason: `the overlap window to end at ${windowEnds.toISOString()}`, until: windowEnds };
  }
  const current = await valueOf(deps, view.currentVersionId!);
  for (const sender of deps.senders) {
    const state = await sender.propagated(current, view.overlapOpenedAt, now);
    if (!state.done && state.unknown) {
      // Someone else wrote the store (a Konnect Config Store key): its value is unknown. Validators accept
      // {previous, current} while the overlap is open, so rewriting current is safe; the propagation clock
      // restarts from this write, so retire waits for the rewritten value and is never blocked forever.
      await sender.send(current);
      const rewrittenAt = deps.clock.now();
      await deps.store.setTags({ [TAG.OVERLAP_OPENED_AT]: rewrittenAt.toISOString() });
      deps.log.warn('sender value unknown: rewrote the current value and restarted the propagation clock', { secret: settings.name, sender: sender.id, fingerprint: fingerprint(current) });
      return { status: 'waiting', reason: `${sender.id} to propagate the current value, rewritten at ${rewrittenAt.toISOString()} (${state.detail})` };
    }
    if (!state.done) return { status: 'waiting', reason: `${sender.id} to propagate the current value (${state.detail})` };
  }
  // The checks above took a while: a rotation that started meanwhile needs its pending value accepted.
  if (rotationUnderWay((await snapshot(deps)).view)) return { status: 'waiting', reason: 'the rotation that just started to finish' };
  for (const validator of deps.validators) {
    await validator.accept([current]);
    deps.log.info('validator accepts only current', { secret: settings.name, validator: validator.id, fingerprint: fingerprint(current) });
  }
  // The emergency flag of the rotation that is starting (createSecret retiring the previous overlap) stays.
  const flag = secret.tags[TAG.EMERGENCY];
  const dropFlag = flag !== undefined && flag !== options.rotationToken && !options.keepEmergency;
  await deps.store.removeTags(dropFlag ? [TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION, TAG.EMERGENCY] : [TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION]);
  deps.log.info('overlap retired', { secret: settings.name, fingerprint: fingerprint(current) });
  progress(deps, { secret: settings.name, step: 'retire', phase: 'done', message: 'validators accept only the current value' });
  return { status: 'retired', reason: emergency ? 'senders propagated (emergency)' : 'overlap passed and senders propagated' };
}

/**
 * Calls `retire` until it retires or `timeoutMs` passes, polling every `pollMs` and reporting what it waits
 * for. For the CLI and emergency rotations; the deployed retire Lambda calls `retire` once per schedule tick.
 */
export async function waitAndRetire(
  settings: RotationSettings,
  deps: RotationDeps,
  options: { timeoutMs: number; pollMs?: number },
): Promise<RetireResult> {
  const started = deps.clock.now().getTime();
  const pollMs = options.pollMs ?? 5_000;
  const maxPolls = Math.ceil(options.timeoutMs / Math.max(1, pollMs)) + 2;
  // Retire takes the lease per check, so a long wait here never blocks the retire Lambda or a rotation.
  const check = async (): Promise<RetireResult> => {
    try {
      return await retire(settings, deps);
    } catch (error) {
      if (error instanceof LeaseHeldError) return { status: 'waiting', reason: error.message };
      throw error;
    }
  };
  let result = await check();
  for (let i = 0; i < maxPolls && result.status === 'waiting'; i++) {
    const waited = deps.clock.now().getTime() - started;
    if (waited >= options.timeoutMs) break;
    progress(deps, { secret: settings.name, step: 'retire', phase: 'wait', message: result.reason, waitedMs: waited, waitingFor: result.reason });
    const untilWindow = result.until ? result.until.getTime() - deps.clock.now().getTime() : pollMs;
    await deps.clock.sleep(Math.max(0, Math.min(pollMs, untilWindow, options.timeoutMs - waited)));
    result = await check();
  }
  return result;
}

/**
 * Runs `work` (which takes the secret's lease) once no other writer holds the lease, checking every `pollMs` up to
 * `timeoutMs`; then the last LeaseHeldError is thrown. For an operator's command that follows a deployed rotation:
 * the rotation function moves AWSCURRENT a moment before its finishSecret releases the lease.
 */
export async function whenLeaseFree<T>(deps: RotationDeps, options: { timeoutMs: number; pollMs?: number }, work: () => Promise<T>): Promise<T> {
  const started = deps.clock.now().getTime();
  const pollMs = Math.max(1, options.pollMs ?? 1_000);
  const maxTries = Math.ceil(options.timeoutMs / pollMs) + 2;
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (error) {
      const waited = deps.clock.now().getTime() - started;
      if (!(error instanceof LeaseHeldError) || i >= maxTries || waited >= options.timeoutMs) throw error;
      await deps.clock.sleep(Math.min(pollMs, options.timeoutMs - waited));
    }
  }
}

// ---------- adopt ----------

export type AdoptResult = { status: 'adopted' | 'already-current'; fingerprint: string; versionId?: string };

/**
 * Onboarding: stores the value the senders send now as the secret's AWSCURRENT (the secret the stack creates
 * starts with a random value). Requires every sender that can tell to send one and the same value, and every
 * validator to accept it, so that nothing about traffic changes. Changes nothing on the targets.
 */
export async function adopt(settings: RotationSettings, deps: RotationDeps, token: string = globalThis.crypto.randomUUID()): Promise<AdoptResult> {
  return withSecretLease(settings, deps, 'adopt', (held) => adoptUnleased(settings, held, token));
}

async function adoptUnleased(settings: RotationSettings, deps: RotationDeps, token: string): Promise<AdoptResult> {
  const { view } = await snapshot(deps);
  if (view.rotating || view.overlapOpenedAt) {
    throw new RotationStateError(`${settings.name}: a rotation or an overlap is open; adopt only a settled secret (see "origin-guard status")`);
  }
  const seen = new Map<string, string[]>();
  for (const sender of deps.senders) {
    const sending = await sender.sending();
    if (sending === undefined) continue;
    if (sending.length === 0) throw new RotationStateError(`${settings.name}: ${sender.id} sends no ${settings.headerName} header; nothing to adopt (README: onboarding)`);
    for (const value of sending) seen.set(value, [...(seen.get(value) ?? []), sender.id]);
  }
  if (seen.size !== 1) {
    const detail = [...seen].map(([value, ids]) => `${ids.join(', ')} send ${fingerprint(value)}`).join('; ');
    throw new RotationStateError(
      seen.size === 0
        ? `${settings.name}: no sender can show the value it sends; nothing to adopt`
        : `${settings.name}: senders disagree (${detail}); make them send one value first`,
    );
  }
  const [value] = seen.keys();
  for (const validator of deps.validators) {
    // Upstream readers follow the secret itself: they accept the value once it is AWSCURRENT.
    if (validator.followsSecret) continue;
    const accepted = await validator.accepted();
    if (!accepted.includes(value)) {
      throw new RotationStateError(
        `${settings.name}: ${validator.id} does not accept ${fingerprint(value)}, the value senders send (it accepts [${accepted.map(fingerprint).join(', ')}]); fix it first`,
      );
    }
  }
  const current = await valueOf(deps, view.currentVersionId!);
  if (current === value) return { status: 'already-current', fingerprint: fingerprint(value), versionId: view.currentVersionId };
  await deps.store.putPending(token, value);
  await deps.store.moveStage(STAGE.CURRENT, token, view.currentVersionId);
  await deps.store.moveStage(STAGE.PENDING, undefined, token);
  deps.log.info('adopted the value senders send', { secret: settings.name, fingerprint: fingerprint(value), versionId: token });
  return { status: 'adopted', fingerprint: fingerprint(value), versionId: token };
}

// ---------- a whole rotation, in-process ----------

export interface RotateOptions {
  /** Leaked value: skip the overlap window, retire as soon as the senders have propagated. */
  emergency?: boolean;
  /** How long an emergency rotation waits for senders to propagate before giving up (the overlap stays open). */
  propagationTimeoutMs?: number;
  /** How often an emergency rotation checks whether the senders have propagated (default 5 s). */
  pollMs?: number;
  token?: string;
}

export interface RotateResult {
  token: string;
  resumed: boolean;
  retire?: RetireResult;
}

/**
 * Runs the four steps in order in this process (`origin-guard rotate --local`, the demo, the tests); the
 * deployed path runs the same steps, one Lambda invocation each. Resumes an unfinished rotation instead of
 * starting a second one. Ends with the overlap open, unless `emergency`, which retires once senders propagated.
 */
export async function rotateInProcess(settings: RotationSettings, deps: RotationDeps, options: RotateOptions = {}): Promise<RotateResult> {
  const purpose = options.emergency ? 'rotate --local --emergency' : 'rotate --local';
  // One lease for the four steps: a Lambda invoked by Secrets Manager meanwhile refuses instead of joining in.
  const { token, resumed } = await withSecretLease(settings, deps, purpose, async (held) => {
    const { view } = await snapshot(held);
    const resumed = view.pendingVersionId !== undefined;
    const token = view.pendingVersionId ?? options.token ?? globalThis.crypto.randomUUID();
    if (options.emergency) await held.store.setTags({ [TAG.EMERGENCY]: token });
    try {
      for (const step of ROTATION_STEPS) await runStep(step, token, settings, held);
    } catch (error) {
      // The flag belongs to this run only: left behind, it would make the next ordinary rotation an emergency one.
      if (options.emergency) await clearEmergency(held, token);
      throw error;
    }
    return { token, resumed };
  });
  if (!options.emergency) return { token, resumed };
  const result = await waitAndRetire(settings, deps, { timeoutMs: options.propagationTimeoutMs ?? 30 * 60_000, pollMs: options.pollMs });
  return { token, resumed, retire: result };
}

