/** Output grouped by account and region (several accounts and regions): one block per account-region. */
import type { Finding } from '../lambdas/core/ports.ts';

/** `account workload · eu-west-1`, or `hub account · eu-west-1` for items without an account. */
export function accountRegionTitle(account: string | undefined, region: string | undefined): string {
  return `${account === undefined ? 'hub account' : `account ${account}`}${region ? ` · ${region}` : ''}`;
}

/**
 * Renders each account-region's findings with `format`, under a title; blocks with a failure come first, then
 * by account and region (the hub first).
 */
export function formatByAccount(findings: readonly Finding[], format: (findings: readonly Finding[]) => string): string {
  const groups = new Map<string, { account?: string; region?: string; findings: Finding[] }>();
  for (const f of findings) {
    const key = `${f.account ?? ''}\u0000${f.region ?? ''}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ...(f.account !== undefined ? { account: f.account } : {}), ...(f.region !== undefined ? { region: f.region } : {}), findings: [] }));
    g.findings.push(f);
  }
  const failed = (g: { findings: Finding[] }) => g.findings.some((f) => f.status === 'FAIL');
  const ordered = [...groups.values()].sort(
    (a, b) =>
      Number(failed(b)) - Number(failed(a)) ||
      (a.account === undefined ? -1 : b.account === undefined ? 1 : a.account.localeCompare(b.account)) ||
      (a.region ?? '').localeCompare(b.region ?? ''),
  );
  if (ordered.length === 0) return format([]);
  return ordered.map((g) => `== ${accountRegionTitle(g.account, g.region)} ==\n${format(g.findings)}`).join('\n\n');
}
