/**
 * Security Hub import on the emulator: a failing finding is imported ACTIVE / NEW; once it passes the same id is
 * re-imported RESOLVED / ARCHIVED (never left active, never duplicated); passing findings never imported are not
 * sent. The ASFF payload carries every field Security Hub requires.
 */
import { GetFindingsCommand, SecurityHubClient, type AwsSecurityFinding } from '@aws-sdk/client-securityhub';
import { describe, expect, it } from 'vitest';
import { ASFF_REQUIRED_FIELDS, MAX_FINDINGS_PER_IMPORT, SecurityHubExporter, toAsff } from '../../lambdas/adapters/security-hub.ts';
import type { Finding } from '../../lambdas/core/ports.ts';
import { emulatorClientConfig } from '../support/aws.ts';

// A region of its own: moto's Security Hub keeps one finding list per account and region, and ignores filters.
const client = new SecurityHubClient(emulatorClientConfig('ap-southeast-2'));
const ACCOUNT = '123456789012';
const context = { accountId: ACCOUNT, region: 'ap-southeast-2' };

const finding = (status: Finding['status'], resource = 'sg-0a1b2c3d'): Finding => ({
  id: `sg.broad-ingress:${resource}`,
  checkId: 'sg.broad-ingress',
  severity: 'CRITICAL',
  status,
  resource,
  message: status === 'FAIL' ? `${resource} admits 0.0.0.0/1 on 443` : `${resource} admits nothing broad`,
  remediation: 'Revoke the rule.',
});

/** Every finding origin-guard imported with this id, as Security Hub returns them. */
async function stored(id: string): Promise<AwsSecurityFinding[]> {
  const out = await client.send(new GetFindingsCommand({ Filters: { Id: [{ Value: id, Comparison: 'EQUALS' }] }, MaxResults: 100 }));
  return (out.Findings ?? []).filter((f) => f.Id === id);
}

describe('Security Hub (ASFF) export', () => {
  it('carries every required ASFF field', () => {
    const asff = toAsff(finding('FAIL'), { ...context, time: new Date() }) as unknown as Record<string, unknown>;
    for (const field of ASFF_REQUIRED_FIELDS) expect(asff[field], field).toBeDefined();
    expect(asff.ProductArn).toBe(`arn:aws:securityhub:ap-southeast-2:${ACCOUNT}:product/${ACCOUNT}/default`);
    expect((asff.Resources as unknown[]).length).toBeGreaterThan(0);
  });

  it('imports a failure as NEW / ACTIVE, then the same id as RESOLVED / ARCHIVED once it passes', async () => {
    const exporter = new SecurityHubExporter(client, context);
    const id = finding('FAIL', 'sg-1a2b3c4d').id;

    const first = await exporter.export([finding('FAIL', 'sg-1a2b3c4d'), finding('PASS', 'sg-99999999')], new Date('2026-12-03T03:00:00Z'));
    const afterFailure = await stored(id);
    const again = await exporter.export([finding('FAIL', 'sg-1a2b3c4d')], new Date('2026-12-03T03:15:00Z'));
    const resolved = await exporter.export([finding('PASS', 'sg-1a2b3c4d')], new Date('2026-12-03T03:30:00Z'));
    const afterFix = await stored(id);
    const quiet = await exporter.export([finding('PASS', 'sg-1a2b3c4d')], new Date('2026-12-03T03:45:00Z'));

    expect(first).toEqual({ imported: 1, archived: 0, failed: [] });
    expect(afterFailure).toHaveLength(1);
    expect(afterFailure[0]).toMatchObject({ RecordState: 'ACTIVE', Workflow: { Status: 'NEW' }, Compliance: { Status: 'FAILED' } });
    expect(again).toEqual({ imported: 1, archived: 0, failed: [] });
    expect(resolved).toEqual({ imported: 1, archived: 1, failed: [] });
    expect(afterFix).toHaveLength(1);
    expect(afterFix[0]).toMatchObject({ RecordState: 'ARCHIVED', Workflow: { Status: 'RESOLVED' }, Compliance: { Status: 'PASSED' } });
    // Created once: the re-imports kept the first CreatedAt.
    expect(afterFix[0].CreatedAt).toBe('2026-12-03T03:00:00.000Z');
    expect(quiet).toEqual({ imported: 0, archived: 0, failed: [] });
    expect(await stored(finding('PASS', 'sg-99999999').id)).toEqual([]);
  });

  it(`imports in batches of at most ${MAX_FINDINGS_PER_IMPORT}`, async () => {
    const sizes: number[] = [];
    const counting = new SecurityHubClient(emulatorClientConfig('ap-northeast-3'));
    counting.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'BatchImportFindingsCommand') sizes.push((args.input as { Findings: unknown[] }).Findings.length);
        return next(args);
      },
      { step: 'initialize', name: 'countImports' },
    );
    const many = Array.from({ length: 230 }, (_, i) => finding('FAIL', `sg-${String(i).padStart(8, '0')}`));

    const result = await new SecurityHubExporter(counting, { accountId: ACCOUNT, region: 'ap-northeast-3' }).export(many, new Date());

    expect(sizes).toEqual([100, 100, 30]);
    expect(result).toEqual({ imported: 230, archived: 0, failed: [] });
  });
});
