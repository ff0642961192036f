import type { ProbePort, ProbeResult } from '../core/ports.ts';

/** Sends one GET with the given headers; a refused or reset connection is a result, not an error. */
export function httpProbe(options: { timeoutMs?: number; fetch?: typeof fetch } = {}): ProbePort {
  const doFetch = options.fetch ?? fetch;
  return {
    async request(url: string, headers: Record<string, string>): Promise<ProbeResult> {
      try {
        const res = await doFetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs ?? 5_000) });
        await res.body?.cancel();
        return { status: res.status };
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause;
        return { error: cause?.code ?? (error as Error).name };
      }
    },
  };
}
