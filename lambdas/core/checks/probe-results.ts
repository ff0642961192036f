/** How probe answers read: refused is a 403 or a closed connection; passed is anything the origin served. */
import type { ProbeResult } from '../ports.ts';

export function refused(result: ProbeResult): boolean {
  return result.status === undefined || result.status === 403;
}

export function passed(result: ProbeResult): boolean {
  return result.status !== undefined && result.status !== 401 && result.status !== 403 && result.status < 500;
}

export function describeProbe(result: ProbeResult): string {
  return result.status !== undefined ? `HTTP ${result.status}` : `connection closed (${result.error ?? 'no answer'})`;
}
