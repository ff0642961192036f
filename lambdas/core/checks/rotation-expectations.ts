/** What the rotation state says validators must accept and senders must send, by fingerprint. */
import type { ObservedSecret } from '../audit-model.ts';
import { TAG } from '../ports.ts';
import { rotationView, type RotationView } from '../rotation-state.ts';

export interface RotationExpectations {
  view: RotationView;
  current?: string;
  pending?: string;
  previous?: string;
  /** Validators must accept these (pending only once setSecret ran, overlap version while it is open). */
  required: string[];
  /** Validators may accept nothing beyond these. */
  allowed: string[];
  /** Senders may send these: current, or pending while a rotation is switching them. */
  sendable: string[];
}

export function rotationExpectations(secret: ObservedSecret): RotationExpectations | undefined {
  if (!secret.description) return undefined;
  const view = rotationView(secret.description);
  const fp = (versionId: string | undefined) => (versionId ? secret.fingerprints[versionId] : undefined);
  const current = fp(view.currentVersionId);
  const pending = fp(view.pendingVersionId);
  const previous = fp(view.previousVersionId);
  if (!current) return undefined;
  // Between createSecret and setSecret the validators have not been widened yet; that is not drift.
  const validatorsSet = secret.description.tags[TAG.VALIDATORS_SET_AT] !== undefined;
  const defined = (values: Array<string | undefined>) =>
    values.filter((v, i, all): v is string => v !== undefined && all.indexOf(v) === i);
  return {
    view,
    current,
    pending,
    previous,
    required: defined([current, validatorsSet ? pending : undefined, previous]),
    allowed: defined([current, pending, previous]),
    sendable: defined([current, pending]),
  };
}

/** Fingerprints with their role, for messages: `3fa2c1d0 (current)`. */
export function describeFingerprints(fingerprints: string[], expectations: RotationExpectations): string {
  if (fingerprints.length === 0) return 'none';
  const role = (f: string) =>
    f === expectations.current ? 'current' : f === expectations.pending ? 'pending' : f === expectations.previous ? 'previous' : 'unknown';
  return fingerprints.map((f) => `${f} (${role(f)})`).join(', ');
}
