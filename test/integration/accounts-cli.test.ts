/** Issue 13: the CLI across accounts: `audit` groups by account and region, `--json` carries them, `--account` narrows. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateWebACLCommand } from '@aws-sdk/client-wafv2';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAuditCommand } from '../../cli/audit.ts';
import type { CliContext } from '../../cli/context.ts';
import { visibility } from '../../cli/seed.ts';
import { parseConfig } from '../../lambdas/config.ts';
import { emulatorAccountClients } from '../support/accounts.ts';
import { uniqueName } from '../support/aws.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, interactive: false };
  return { ctx, out, err };
}

const accounts = {
  shared: { accountId: '610000000001', regions: ['eu-west-1'] },
  workload: { accountId: '610000000002', regions: ['eu-west-1', 'us-west-2'] },
};

describe('origin-guard audit across accounts', () => {
  let configPath: string;
  let env: ReturnType<typeof emulatorAccountClients>;

  beforeAll(async () => {
    const base = { region: 'eu-west-1', stackName: 'OriginGuard', organizationId: 'o-a1b2c3d4e5', accounts };
    env = emulatorAccountClients(parseConfig(base), 'audit');
    const webAcls = [];
    for (const [account, region] of [['shared', 'eu-west-1'], ['workload', 'us-west-2']] as const) {
      const name = uniqueName(`cli-${account}`);
      const acl = await env.accounts.for({ account, region }).wafv2('REGIONAL').send(new CreateWebACLCommand({ Name: name, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, Rules: [], VisibilityConfig: visibility(name) }));
      webAcls.push({ scope: 'REGIONAL', name, id: acl.Summary!.Id!, account, region });
    }
    // One more that does not exist, in workload's eu-west-1: a failure there.
    webAcls.push({ scope: 'REGIONAL', name: 'gone-acl', id: '00000000-0000-0000-0000-000000000000', account: 'workload', region: 'eu-west-1' });
    const dir = mkdtempSync(join(tmpdir(), 'og-accounts-cli-'));
    configPath = join(dir, 'origin-guard.config.json');
    writeFileSync(configPath, JSON.stringify({ ...base, audit: { webAcls } }));
  });

  it('prints account and region on every finding in --json', async () => {
    const c = capture();
    const code = await runAuditCommand(['--json', '--config', configPath], c.ctx, { clients: env.hub });
    const { findings } = JSON.parse(c.out.join('\n'));
    expect(code).toBe(1);
    const waf = findings.filter((f: { id: string }) => f.id.startsWith('waf.exists:'));
    expect(waf.map((f: any) => [f.account, f.region, f.status]).sort()).toEqual([
      ['shared', 'eu-west-1', 'PASS'],
      ['workload', 'eu-west-1', 'FAIL'],
      ['workload', 'us-west-2', 'PASS'],
    ]);
    expect(Object.keys(waf[0])).toEqual(['id', 'severity', 'status', 'resource', 'message', 'remediation', 'account', 'region']);
  });

  it('groups the table by account and region, failed blocks first', async () => {
    const c = capture();
    await runAuditCommand(['--config', configPath], c.ctx, { clients: env.hub });
    const text = c.out.join('\n');
    const titles = [...text.matchAll(/^== (.*) ==$/gm)].map((m) => m[1]);
    expect(titles).toEqual(expect.arrayContaining(['account workload · eu-west-1', 'account shared · eu-west-1', 'account workload · us-west-2']));
    // Which blocks fail, from the same audit's --json: every failing block comes before every passing one.
    const json = capture();
    await runAuditCommand(['--json', '--config', configPath], json.ctx, { clients: env.hub });
    const findings: Array<{ status: string; account?: string; region?: string }> = JSON.parse(json.out.join('\n')).findings;
    const failing = new Set(findings.filter((f) => f.status === 'FAIL').map((f) => `account ${f.account} · ${f.region}`));
    expect(failing.has('account workload · eu-west-1')).toBe(true);
    const firstPassing = titles.findIndex((t) => !failing.has(t));
    const lastFailing = titles.map((t) => failing.has(t)).lastIndexOf(true);
    expect(lastFailing).toBeLessThan(firstPassing === -1 ? titles.length : firstPassing);
  });

  it('narrows to one account with --account, and names the accounts for an unknown one', async () => {
    const c = capture();
    await runAuditCommand(['--json', '--account', 'shared', '--config', configPath], c.ctx, { clients: env.hub });
    const { findings } = JSON.parse(c.out.join('\n'));
    expect(findings.length).toBeGreaterThan(0);
    expect(new Set(findings.map((f: any) => f.account))).toEqual(new Set(['shared']));

    await expect(runAuditCommand(['--account', 'nope', '--config', configPath], capture().ctx, { clients: env.hub })).rejects.toThrow(
      '--account nope: no such account (configured: shared, workload)',
    );
  });
});
