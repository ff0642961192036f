import { STAGE, TAG, type SecretDescription } from './ports.ts';

/**
 * Where a secret stands in its rotation, derived only from Secrets Manager (stages and tags), so the CLI,
 * the Lambdas, the verifier and the audit read the same truth.
 *
 * The protocol: validators accept AWSCURRENT, plus AWSPENDING while a rotation is under way, plus the
 * overlap version (tag `origin-guard:overlap-version`, normally the AWSPREVIOUS version) while the overlap
 * is open. `retire` ends the overlap by removing the overlap tags; AWSPREVIOUS stays for manual rollback.
 */
export interface RotationView {
  currentVersionId?: string;
  pendingVersionId?: string;
  previousVersionId?: string;
  /** A rotation has created a pending value that senders do not send yet. */
  rotating: boolean;
  /** Senders switched at this time; the previous value is still accepted until retired. */
  overlapOpenedAt?: Date;
  emergency: boolean;
}

export function rotationView(secret: SecretDescription): RotationView {
  const on = (stage: string) => secret.versions.find((v) => v.stages.includes(stage))?.versionId;
  const currentVersionId = on(STAGE.CURRENT);
  let pendingVersionId = on(STAGE.PENDING);
  // AWSPENDING left on the AWSCURRENT version is a finished rotation, as AWS treats it.
  if (pendingVersionId === currentVersionId) pendingVersionId = undefined;
  const overlapVersion = secret.tags[TAG.OVERLAP_VERSION];
  const opened = secret.tags[TAG.OVERLAP_OPENED_AT];
  // The overlap version equal to current means senders were being switched and AWSCURRENT has not moved yet.
  const inOverlap = overlapVersion !== undefined && overlapVersion !== currentVersionId && opened !== undefined && !Number.isNaN(Date.parse(opened));
  const previousVersionId = inOverlap ? overlapVersion : undefined;
  const overlapOpenedAt = inOverlap ? new Date(opened!) : undefined;
  return {
    currentVersionId,
    pendingVersionId,
    previousVersionId,
    rotating: pendingVersionId !== undefined,
    overlapOpenedAt,
    // The flag names the rotation it belongs to: pending while it runs, current once senders switched.
    emergency: secret.tags[TAG.EMERGENCY] !== undefined && [pendingVersionId, currentVersionId].includes(secret.tags[TAG.EMERGENCY]),
  };
}

/** The version ids whose values validators must accept right now (current first). */
export function acceptedVersionIds(view: RotationView): string[] {
  return [view.currentVersionId, view.pendingVersionId, view.previousVersionId].filter(
    (id, i, all): id is string => id !== undefined && all.indexOf(id) === i,
  );
}

/** What the rotation recorded about itself in the secret's tags (never a value): step, wait, ETA, last error. */
export interface RotationProgressTags {
  /** The step under way and its token, e.g. `testSecret 3f2a…`. */
  step?: string;
  waitingFor?: string;
  /** ISO time at which the wait ends. */
  until?: string;
  /** Seconds from `now` until `until` (0 when it has passed). */
  etaSeconds?: number;
  /** The last failure, refusal or stop, with its time. */
  lastError?: string;
}

export function progressTags(tags: Record<string, string>, now: Date): RotationProgressTags | undefined {
  const until = tags[TAG.PROGRESS_UNTIL];
  const untilMs = until ? Date.parse(until) : Number.NaN;
  const out: RotationProgressTags = {
    ...(tags[TAG.PROGRESS_STEP] ? { step: tags[TAG.PROGRESS_STEP] } : {}),
    ...(tags[TAG.PROGRESS_WAITING_FOR] ? { waitingFor: tags[TAG.PROGRESS_WAITING_FOR] } : {}),
    ...(Number.isNaN(untilMs) ? {} : { until: new Date(untilMs).toISOString(), etaSeconds: Math.max(0, Math.ceil((untilMs - now.getTime()) / 1000)) }),
    ...(tags[TAG.LAST_ERROR] ? { lastError: tags[TAG.LAST_ERROR] } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}
