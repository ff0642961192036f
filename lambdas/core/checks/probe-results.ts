/**
 * How probe answers read. Refused is the status the probe expects for a refusal (403 by default; Kong answers
 * a header mismatch with 404). No answer at all (DNS failure, timeout, reset) proves nothing either way: it is
 * inconclusive, never a pass.
 */
import type { ProbeResult } from '../ports.ts';

export function answered(result: ProbeResult): boolean {
  return result.status !== undefined;
}

export function refused(result: ProbeResult, expectedStatus = 403): boolean {
  return result.status === expectedStatus;
}

export function passed(result: ProbeResult): boolean {
  return result.status !== undefined && result.status !== 401 && result.status !== 403 && result.status < 500;
}

export function describeProbe(result: ProbeResult): string {
  return result.status !== undefined ? `HTTP ${result.status}` : `no answer (${result.error ?? 'connection closed'})`;
}
