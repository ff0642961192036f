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
import { describeError, RotationFailedError, RotationStateError, TargetError } from './errors.ts';
import { fingerprint } from './fingerprint.ts';
import {
  STAGE,
  TAG,
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
}

export interface RotationProgress {
  secret: string;
  step: RotationStep | 'retire' | 'rollback';
  phase: 'start' | 'done' | 'wait' | 'skip' | 'fail';
  message: string;
  /** For `wait`: how long we have waited so far and what for. */
  waitedMs?: number;
  waitingFor?: string;
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

/** Wait out a fixed delay that a target imposes, reporting progress every few seconds. */
async function waitFor(deps: RotationDeps, settings: RotationSettings, step: RotationProgress['step'], ms: number, waitingFor: string) {
  const started = deps.clock.now().getTime();
  const deadline = started + ms;
  // Bounded: at most ms / 5 s + 1 iterations.
  for (let now = started; now < deadline; now = deps.clock.now().getTime()) {
    progress(deps, { secret: settings.name, step, phase: 'wait', message: `waiting for ${waitingFor}`, waitedMs: now - started, waitingFor });
    await deps.clock.sleep(Math.min(5_000, deadline - now));
  }
}

// ---------- the four steps ----------

/**
 * Runs one step for `token`. Returns quietly when the step has nothing left to do (a retry after a crash,
 * or a rotation that already finished).
 */
export async function runRotationStep(step: RotationStep, token: string, settings: RotationSettings, deps: RotationDeps): Promise<void> {
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
    if (error instanceof RotationStateError || error instanceof RotationFailedError) {
      log.error('rotation step refused or failed', { secret: settings.name, step, token, error: describeError(error) });
      progress(deps, { secret: settings.name, step, phase: 'fail', message: error.message });
      // A refusal changed nothing, but the secret is not rotating: the operator must hear about it.
      if (error instanceof RotationStateError) await publishFailure(deps, settings, step, undefined, `Rotation of ${settings.name} refused in ${step}: ${error.message}`, 'refused');
      throw error;
    }
    throw await rollBack(step, token, settings, deps, error);
  }
  log.info('rotation step done', { secret: settings.name, step, token });
  progress(deps, { secret: settings.name, step, phase: 'done', message: stepTitle(step) });
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
      const result = await retire(settings, deps, { rotationToken: token, keepEmergency: true });
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
    await waitFor(deps, settings, 'testSecret', remaining, `validator propagation (${names.join(', ')})`);
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

async function probeOrigin(settings: RotationSettings, deps: RotationDeps, pending: string): Promise<void> {
  const url = settings.probeUrl!;
  const good = await deps.probe!.request(url, { [settings.headerName]: pending });
  // 2xx or 3xx only: a 404 is Kong saying no route matched, i.e. the route does not accept the value yet.
  if (good.status === undefined || good.status >= 400) {
    throw new TargetError(`probe:${url}`, `a request with the pending value was refused (${good.status ?? good.error}); a validator does not accept it yet`);
  }
  const forged = await deps.probe!.request(url, { [settings.headerName]: generateHeaderValue() });
  if (forged.status !== undefined && forged.status < 400) {
    throw new TargetError(`probe:${url}`, `a request with a wrong value was let through (${forged.status}); the origin does not enforce ${settings.headerName}`);
  }
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
  outcome: 'refused' | 'rolled-back' | 'rollback-incomplete',
) {
  if (!deps.alerts) return;
  const checkId = outcome === 'refused' ? 'rotation.refused' : 'rotation.failed';
  const rolledBack = outcome !== 'rollback-incomplete';
  const finding: Finding = {
    id: `${checkId}:${settings.name}`,
    checkId,
    severity: outcome === 'refused' ? 'MEDIUM' : rolledBack ? 'HIGH' : 'CRITICAL',
    status: 'FAIL',
    resource: settings.name,
    message,
    remediation: `Fix ${target ?? 'the failing target'} (see the message), then run "origin-guard rotate --secret ${settings.name}". ` +
      `"origin-guard status" shows what every sender and validator holds now.`,
    details: { step, target, rolledBack },
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
  /** Keep the emergency flag: it belongs to the rotation that is starting, not to the overlap being closed. */
  keepEmergency?: boolean;
}

export async function retire(settings: RotationSettings, deps: RotationDeps, options: RetireOptions = {}): Promise<RetireResult> {
  const { view } = await snapshot(deps);
  const rotationUnderWay = (v: RotationView) => v.rotating && v.pendingVersionId !== options.rotationToken;
  if (!view.overlapOpenedAt) return { status: 'nothing-to-retire', reason: 'no overlap is open' };
  if (rotationUnderWay(view)) return { status: 'waiting', reason: 'the rotation under way to finish' };
  const now = deps.clock.now();
  const windowEnds = new Date(view.overlapOpenedAt.getTime() + settings.overlapMinutes * 60_000);
  if (!view.emergency && now < windowEnds) {
    return { status: 'waiting', reason: `the overlap window to end at ${windowEnds.toISOString()}`, until: windowEnds };
  }
  const current = await valueOf(deps, view.currentVersionId!);
  for (const sender of deps.senders) {
    const state = await sender.propagated(current, view.overlapOpenedAt, now);
    if (!state.done) return { status: 'waiting', reason: `${sender.id} to propagate the current value (${state.detail})` };
  }
  // The checks above took a while: a rotation that started meanwhile needs its pending value accepted.
  if (rotationUnderWay((await snapshot(deps)).view)) return { status: 'waiting', reason: 'the rotation that just started to finish' };
  for (const validator of deps.validators) {
    await validator.accept([current]);
    deps.log.info('validator accepts only current', { secret: settings.name, validator: validator.id, fingerprint: fingerprint(current) });
  }
  await deps.store.removeTags(options.keepEmergency ? [TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION] : [TAG.OVERLAP_OPENED_AT, TAG.OVERLAP_VERSION, TAG.EMERGENCY]);
  deps.log.info('overlap retired', { secret: settings.name, fingerprint: fingerprint(current) });
  progress(deps, { secret: settings.name, step: 'retire', phase: 'done', message: 'validators accept only the current value' });
  return { status: 'retired', reason: view.emergency ? 'senders propagated (emergency)' : 'overlap passed and senders propagated' };
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
  let result = await retire(settings, deps);
  for (let i = 0; i < maxPolls && result.status === 'waiting'; i++) {
    const waited = deps.clock.now().getTime() - started;
    if (waited >= options.timeoutMs) break;
    progress(deps, { secret: settings.name, step: 'retire', phase: 'wait', message: result.reason, waitedMs: waited, waitingFor: result.reason });
    const untilWindow = result.until ? result.until.getTime() - deps.clock.now().getTime() : pollMs;
    await deps.clock.sleep(Math.max(0, Math.min(pollMs, untilWindow, options.timeoutMs - waited)));
    result = await retire(settings, deps);
  }
  return result;
}

// ---------- adopt ----------

export type AdoptResult = { status: 'adopted' | 'already-current'; fingerprint: string; versionId?: string };

/**
 * Onboarding: stores the value the senders send now as the secret's AWSCURRENT (the secret the stack creates
 * starts with a random value). Requires every sender that can tell to send one and the same value, and every
 * validator to accept it, so that nothing about traffic changes. Changes nothing on the targets.
 */
export async function adopt(settings: RotationSettings, deps: RotationDeps, token: string = globalThis.crypto.randomUUID()): Promise<AdoptResult> {
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
  const { view } = await snapshot(deps);
  const resumed = view.pendingVersionId !== undefined;
  const token = view.pendingVersionId ?? options.token ?? globalThis.crypto.randomUUID();
  if (options.emergency) await deps.store.setTags({ [TAG.EMERGENCY]: 'true' });
  try {
    for (const step of ROTATION_STEPS) await runRotationStep(step, token, settings, deps);
  } catch (error) {
    // The flag belongs to this run only: left behind, it would make the next ordinary rotation an emergency one.
    if (options.emergency) await deps.store.removeTags([TAG.EMERGENCY]).catch(() => undefined);
    throw error;
  }
  if (!options.emergency) return { token, resumed };
  const result = await waitAndRetire(settings, deps, { timeoutMs: options.propagationTimeoutMs ?? 30 * 60_000, pollMs: options.pollMs });
  return { token, resumed, retire: result };
}

