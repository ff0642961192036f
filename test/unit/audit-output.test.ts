import { describe, expect, it } from 'vitest';
import { formatFindingsTable } from '../../cli/audit.ts';
import type { Finding } from '../../lambdas/core/ports.ts';

const f = (checkId: string, resource: string, status: string, severity: Finding['severity'] = 'HIGH'): Finding => ({
  id: `${checkId}:${resource}`,
  checkId,
  severity,
  status: status as Finding['status'],
  resource,
  message: `${checkId} ${status.toLowerCase()} on ${resource}.`,
  remediation: status === 'PASS' ? 'None.' : `fix ${resource}`,
});

const findings = [
  f('waf.exists', 'acl', 'PASS'),
  f('audit.read', 'sg-1', 'PASS', 'MEDIUM'),
  f('audit.read', 'sg-2', 'FAIL', 'MEDIUM'),
  f('probe.through-cdn', 'probe:origin', 'INCONCLUSIVE'),
  f('sg.open-ingress', 'sg-3', 'FAIL', 'CRITICAL'),
];

describe('audit terminal output, failures first', () => {
  it('shows only what did not pass, most severe first, and a one-line summary', () => {
    const text = formatFindingsTable(findings);

    const rows = text.split('\n').slice(1, 4).map((l) => l.split(/\s+/).slice(0, 3).join(' '));
    expect(rows).toEqual(['FAIL CRITICAL sg.open-ingress', 'FAIL MEDIUM audit.read', 'INCONCLUSIVE HIGH probe.through-cdn']);
    expect(text).not.toMatch(/waf\.exists|sg-1/);
    expect(text.split('\n').at(-1)).toBe('5 findings, 2 failed (1 high or critical), 1 inconclusive; 2 passed (--all lists them).');
  });

  it('--all adds the passing findings after the failures, but not the read confirmations', () => {
    const text = formatFindingsTable(findings, { all: true });

    expect(text).toMatch(/waf\.exists/);
    expect(text).not.toMatch(/sg-1\b/);
    expect(text.indexOf('sg.open-ingress')).toBeLessThan(text.indexOf('waf.exists'));
    expect(text.split('\n').at(-1)).toBe('5 findings, 2 failed (1 high or critical), 1 inconclusive.');
  });

  it('says so in one line when everything passes', () => {
    expect(formatFindingsTable([f('waf.exists', 'acl', 'PASS')])).toBe('1 findings, 0 failed (0 high or critical); 1 passed (--all lists them).');
  });
});

describe('audit table width', () => {
  it('keeps every line of the table within 100 columns, wrapping long messages under their column', () => {
    const long = { ...f('sg.open-ingress', 'sg-0123456789abcdef0', 'FAIL', 'CRITICAL'), message: 'sg-0123456789abcdef0 admits the whole internet on the origin ports: 0.0.0.0/0 tcp/443-443 (sgr-0c24fc15c362f46af4f), and ::/0 tcp/443-443 (sgr-0d1e2f3a4b5c6d7e8).' };
    const longResource = { ...f('peering.routes', 'pcx-7686a6e240f7c31db/rtb-9503cdf108cf4d391-and-then-some-more', 'FAIL'), message: long.message };

    for (const findings of [[long], [long, longResource]]) {
      const table = formatFindingsTable(findings).split('\n\nHow to fix:')[0];
      expect(table.split('\n')[0]).toMatch(/^STATUS\s+SEVERITY\s+CHECK\s+RESOURCE\s+MESSAGE$/);
      expect(Math.max(...table.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
      expect(table.replace(/\s+/g, ' ')).toContain(long.message);
    }
  });
});
