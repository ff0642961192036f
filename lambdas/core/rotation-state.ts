import { STAGE, TAG, type SecretDescription } from './ports.ts';

/**
 * Where a secret stands in its rotation, derived only from Secrets Manager (stages and tags), so the CLI,
 * the Lambdas, the verifier and the audit read the same truth.
 *
 * The protocol: validators accept AWSCURRENT, plus AWSPENDING while a rotation is under way, plus
 * AWSPREVIOUS while the overlap is open. `retire` ends the overlap by taking AWSPREVIOUS off.
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
  const previousVersionId = on(STAGE.PREVIOUS);
  const opened = secret.tags[TAG.OVERLAP_OPENED_AT];
  const overlapOpenedAt = previousVersionId && opened && !Number.isNaN(Date.parse(opened)) ? new Date(opened) : undefined;
  return {
    currentVersionId,
    pendingVersionId,
    previousVersionId: overlapOpenedAt ? previousVersionId : undefined,
    rotating: pendingVersionId !== undefined,
    overlapOpenedAt,
    emergency: secret.tags[TAG.EMERGENCY] === 'true',
  };
}

/** The version ids whose values validators must accept right now (current first). */
export function acceptedVersionIds(view: RotationView): string[] {
  return [view.currentVersionId, view.pendingVersionId, view.previousVersionId].filter(
    (id, i, all): id is string => id !== undefined && all.indexOf(id) === i,
  );
}
