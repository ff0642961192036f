import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, describe, expect, it } from 'vitest';
import { OriginGuardFunction } from '../../lib/function.ts';
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
});
