import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HANDLERS_DIR, PROJECT_ROOT } from '../../lib/function.ts';
import { exampleJson } from './support.ts';

/** Runs bin/app.ts as `cdk synth` does (cdk.json: `npx tsx bin/app.ts`), with the CLI's environment variables. */
function runApp(options: { cwd: string; env?: Record<string, string>; context?: Record<string, unknown> }) {
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_OUTDIR: join(options.cwd, 'cdk.out'), ...options.env };
  if (!options.env?.ORIGIN_GUARD_CONFIG) delete env.ORIGIN_GUARD_CONFIG;
  if (options.context) env.CDK_CONTEXT_JSON = JSON.stringify(options.context);
  const result = spawnSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), [join(PROJECT_ROOT, 'bin', 'app.ts')], {
    cwd: options.cwd,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('bin/app.ts', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'origin-guard-app-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a bad config, naming each problem by its JSON path (ORIGIN_GUARD_CONFIG)', () => {
    const bad = exampleJson();
    bad.region = 'Europe';
    bad.secrets[0].senders[0].distributionId = 'not-a-distribution';
    bad.ipRanges.targets[0].securityGroupIds.push('group-1');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));

    const { status, stderr } = runApp({ cwd: dir, env: { ORIGIN_GUARD_CONFIG: file } });

    expect(status).toBe(1);
    expect(stderr).toContain(`configuration ${file} (ORIGIN_GUARD_CONFIG)`);
    expect(stderr).toContain(`Invalid origin-guard configuration in ${file}`);
    expect(stderr).toMatch(/- region: must be an AWS region/);
    expect(stderr).toMatch(/- secrets\[0\]\.senders\[0\]\.distributionId: must be a CloudFront distribution id/);
    expect(stderr).toMatch(/- ipRanges\.targets\[0\]\.securityGroupIds\[3\]: must be a security group id/);
    expect(existsSync(join(dir, 'cdk.out', 'manifest.json'))).toBe(false);
  });

  it('reads --context config before ORIGIN_GUARD_CONFIG, and reports a missing file', () => {
    const missing = join(dir, 'nowhere.json');
    const { status, stderr } = runApp({ cwd: dir, env: { ORIGIN_GUARD_CONFIG: join(dir, 'bad.json') }, context: { config: missing } });
    expect(status).toBe(1);
    expect(stderr).toContain(`configuration ${missing} (--context config)`);
    expect(stderr).toContain('(root): file not found');
  });

  // Needs the real handlers (lambdas/handlers/*.ts), which NodejsFunction requires even when bundling is skipped.
  // A missing handler fails here rather than skipping the test silently (it moved: update DEFAULT_HANDLERS_DIR).
  it('falls back to the example config when there is none, says so, and synthesizes both stacks', () => {
    const missingHandlers = ['rotate', 'retire', 'reconcile', 'audit'].filter((n) => !existsSync(join(DEFAULT_HANDLERS_DIR, `${n}.ts`)));
    expect(missingHandlers, `handlers not found in ${DEFAULT_HANDLERS_DIR}`).toEqual([]);
    const { status, stderr } = runApp({ cwd: dir, context: { 'aws:cdk:bundling-stacks': [] } });
    expect(stderr).toContain('origin-guard.config.example.json');
    expect(stderr).toContain('origin-guard.config.json not found');
    expect(status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'cdk.out', 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.artifacts)).toEqual(expect.arrayContaining(['OriginGuard', 'OriginGuard-GlobalEvents']));
  });
});
