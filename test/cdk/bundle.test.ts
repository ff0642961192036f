import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { withLiteralTraitKeys } from '../../lib/bundle.mjs';
import { bundlingSettings, OriginGuardFunction, PROJECT_ROOT } from '../../lib/function.ts';
import { exampleConfig, STUB_HANDLERS_DIR } from './support.ts';

describe('OriginGuardFunction bundling (real esbuild run)', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'origin-guard-bundle-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('builds a minified ESM bundle without source maps that reads the embedded config', async () => {
    const config = exampleConfig((json) => (json.region = 'ap-southeast-2'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundle', { env: { region: 'ap-southeast-2' } });
    new OriginGuardFunction(stack, 'Fn', {
      // A stand-in that calls loadEmbeddedConfig() from lambdas/config.ts, as every real handler does.
      entry: join(STUB_HANDLERS_DIR, 'rotate.ts'),
      description: 'bundling test',
      config,
      serviceName: 'bundling-test',
      alertTopic: new sns.Topic(stack, 'Topic'),
      alertStateTable: new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING } }),
    });
    app.synth();

    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const files = readdirSync(join(outdir, assets[0]));
    expect(files).toEqual(['index.mjs']);
    const code = readFileSync(join(outdir, assets[0], 'index.mjs'), 'utf8');
    expect(code).not.toContain('sourceMappingURL');
    // minified: long lines, not the indented source
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    // The config is inlined: the handler does not depend on the environment variable at run time.
    expect(code).toContain('ap-southeast-2');

    const previous = process.env.ORIGIN_GUARD_CONFIG_JSON;
    delete process.env.ORIGIN_GUARD_CONFIG_JSON;
    try {
      const module = await import(pathToFileURL(join(outdir, assets[0], 'index.mjs')).href);
      expect(await module.handler()).toEqual({ handler: 'rotate', region: 'ap-southeast-2' });
    } finally {
      if (previous !== undefined) process.env.ORIGIN_GUARD_CONFIG_JSON = previous;
    }
  });

  it('rewrites the computed trait keys of an SDK schema module to literal keys, and only those of known string constants', () => {
    const source = ['const _xN = "xmlName";', 'const _eQN = "ec2QueryName";', 'export var A$ = [3, n0, _A, 0, [_M], [[1, { [_eQN]: `Min`,', '    [_xN]: _m }], [0, { [other]: 1 }]]];'].join('\n');
    const out = withLiteralTraitKeys(source);
    expect(out).toContain('{ "ec2QueryName": `Min`,');
    expect(out).toContain('"xmlName": _m }');
    expect(out).toContain('{ [other]: 1 }');
  });

  it('drops the EC2 schemas no command of the handler reaches (aws-sdk-js-v3#7607), which esbuild alone keeps', async () => {
    // One command of the EC2 client, bundled by lib/bundle.mjs and, as a control, by esbuild without its plugin.
    const dir = mkdtempSync(join(PROJECT_ROOT, 'node_modules', '.og-bundle-test-'));
    try {
      const entry = join(dir, 'entry.mjs');
      writeFileSync(entry, "import { EC2Client, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';\nexport const handler = () => new EC2Client({}).send(new DescribeSecurityGroupsCommand({}));\n");
      const settings = bundlingSettings(['@aws-sdk/client-ec2']);
      const options = { entryPoints: [entry], bundle: true, platform: 'node' as const, format: settings.format, minify: true, mainFields: settings.mainFields, external: settings.external, logLevel: 'silent' as const };
      const { bundleHandler } = await import('../../lib/bundle.mjs');
      await bundleHandler({ ...options, outfile: join(dir, 'ours.mjs') });
      await build({ ...options, outfile: join(dir, 'plain.mjs') });
      const ours = readFileSync(join(dir, 'ours.mjs'), 'utf8');
      const plain = readFileSync(join(dir, 'plain.mjs'), 'utf8');
      // The shape the command sends and reads stays; a shape of an unrelated operation goes.
      // (Booleans, not toContain: a failure would print a megabyte of bundle.)
      expect(ours.includes('"DescribeSecurityGroupsRequest"'), 'the request shape of the command is kept').toBe(true);
      expect(ours.includes('"IpPermission"'), 'a shape the response reaches is kept').toBe(true);
      expect(ours.includes('SpotPriceHistorySet'), 'an unrelated operation is dropped').toBe(false);
      expect(plain.includes('SpotPriceHistorySet'), 'esbuild alone keeps it').toBe(true);
      expect(ours.length).toBeLessThan(plain.length / 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
