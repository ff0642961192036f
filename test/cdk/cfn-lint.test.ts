/**
 * cfn-lint on every template of every config variant the template tests use: zero errors, and only the
 * warnings listed below, each with its reason. `.ci/run` installs cfn-lint; on a developer machine without it
 * the test says so and is skipped (never in CI).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exampleConfig, synth } from './support.ts';

/** Warnings that stay, by rule id, with the reason. */
const ACCEPTED_WARNINGS: Record<string, string> = {
  W3005: "CDK writes DependsOn for a role's default policy that the Fn::GetAtt to the role already implies; redundant, harmless",
};

const VARIANTS: Record<string, () => ReturnType<typeof synth>> = {
  example: () => synth(exampleConfig()),
  'home region us-east-1 (no global-events stack)': () => synth(exampleConfig((json) => (json.region = 'us-east-1'))),
  'no secrets': () => synth(exampleConfig((json) => (json.secrets = []))),
  'no ipRanges': () => synth(exampleConfig((json) => delete json.ipRanges)),
  'tracing on': () => synth(exampleConfig(), { tracing: true }),
};

const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const available = cfnLint.status === 0;
if (!available) {
  if (process.env.CI) throw new Error('cfn-lint is not installed: .ci/run installs it (pip install cfn-lint); CI never skips this test');
  console.warn('cfn-lint is not installed on this machine: test/cdk/cfn-lint.test.ts is skipped (pip install cfn-lint==1.51.0)');
}

describe.skipIf(!available)('cfn-lint on the synthesized templates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'og-cfn-lint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Five synths and one cfn-lint run over about ten templates: tens of seconds on a loaded 2-core machine.
  it('reports zero errors and only the accepted warnings, for every template of every variant', { timeout: 180_000 }, () => {
    const files: string[] = [];
    const written = new Set<string>();
    for (const [name, build] of Object.entries(VARIANTS)) {
      const { template, globalTemplate } = build();
      const slug = name.replace(/[^a-z0-9]+/gi, '-');
      const write = (suffix: string, body: unknown) => {
        // Identical templates (the global-events stack of most variants) are linted once.
        const text = JSON.stringify(body);
        if (written.has(text)) return;
        written.add(text);
        const file = join(dir, `${slug}${suffix}.template.json`);
        writeFileSync(file, text);
        files.push(file);
      };
      write('', template.toJSON());
      if (globalTemplate) write('-global-events', globalTemplate.toJSON());
    }
    // One cfn-lint process for all files: its start-up dominates.
    const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(run.error).toBeUndefined();
    const matches: Array<{ Level: string; Rule: { Id: string }; Message: string; Filename: string }> = JSON.parse(run.stdout || '[]');
    const errors = matches.filter((m) => m.Level === 'Error');
    const unexpected = matches.filter((m) => m.Level === 'Warning' && !ACCEPTED_WARNINGS[m.Rule.Id]);
    const where = (m: (typeof matches)[number]) => `${m.Filename.replace(dir, '')}: ${m.Rule.Id} ${m.Message}`;
    expect(errors.map(where)).toEqual([]);
    expect(unexpected.map(where)).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(Object.keys(VARIANTS).length);
    // cfn-lint really ran over the templates: CDK's redundant DependsOn is always there.
    expect(matches.some((m) => m.Rule.Id === 'W3005')).toBe(true);
  });
});
