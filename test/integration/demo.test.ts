/**
 * `npm run demo` end to end, as a new user runs it: its own moto_server, the fakes, every real command.
 * Run with --quick (no propagation waits) to keep the suite fast; the summary must say what happened.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../cli/context.ts';
import { main } from '../../cli/main.ts';

describe('demo', () => {
  it('runs rotation, retire, reconcile, audit with drift and repair, and status, and summarizes them', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const ctx: CliContext = { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, interactive: false };

    const dir = mkdtempSync(join(tmpdir(), 'og-demo-report-'));
    const reportPath = join(dir, 'report.html');
    const code = await main(['demo', '--quick', '--json', '--report', reportPath], ctx);
    const page = readFileSync(reportPath, 'utf8');
    rmSync(dir, { recursive: true, force: true });

    const transcript = err.join('\n');
    expect(code, transcript.slice(-3000)).toBe(0);
    const summary = JSON.parse(out.join('\n'));
    expect(summary.ok).toBe(true);
    expect(summary.steps.map((s: { name: string }) => s.name)).toEqual([
      'rotate',
      'retire',
      'reconcile plan',
      'reconcile',
      'reconcile again (no changes)',
      'audit (clean)',
      'audit (drift)',
      'audit again (no new alerts)',
      'report (drift)',
      'audit (repaired)',
      'status',
    ]);
    // The drift alerted once per finding, and its repair once more.
    const drift = summary.alertSubjects.filter((s: string) => /DRIFT (sg\.open-ingress|waf\.associated)/.test(s));
    const resolved = summary.alertSubjects.filter((s: string) => /RESOLVED (sg\.open-ingress|waf\.associated)/.test(s));
    expect(drift).toHaveLength(2);
    expect(resolved).toHaveLength(2);
    expect(transcript).toMatch(/Subject: \[(HIGH|CRITICAL)\] DRIFT/);
    expect(transcript).toContain('demo passed');
    // The posture page of the drifted account: the detached gateway web ACL is a red WAF hop.
    expect(summary.report).toBe(reportPath);
    expect(page).toMatch(/<div class="hop c-red" data-hop="[^"]+" data-colour="red"[^>]*><div class="kind">WAF/);
  });
});
