import { createHash, timingSafeEqual } from 'node:crypto';

/** A short, non-reversible name for a secret value, safe for logs, errors, CLI output and alerts. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);
}

/** Constant-time comparison of two header values (by their SHA-256, so lengths do not leak either). */
export function sameValue(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
