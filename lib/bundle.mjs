// Bundles one Lambda handler with esbuild's JavaScript API, for lib/function.ts (which runs this file in a
// child process: CDK's local bundling is synchronous, esbuild plugins are not) and for the benchmark (which
// imports bundleHandler). Plain JavaScript so that `node` runs it without a TypeScript loader.
//
//   node lib/bundle.mjs '<esbuild BuildOptions as JSON>'
//
// Why not NodejsFunction's own esbuild run: the AWS SDK (since 3.930) writes the trait objects of its schemas
// with computed keys (`{ [_xN]: _m }`, `_xN` a string constant). esbuild cannot prove a computed key free of
// side effects, so it keeps every schema of a client that is used at all: EC2's 550 KB of schemas for the ten
// commands origin-guard sends, parsed and evaluated on every cold start (aws/aws-sdk-js-v3#7607; the generator
// fix, literal keys, is smithy-lang/smithy-typescript#1889, not released). The plugin below makes that same
// rewrite while bundling: the objects are identical, and esbuild drops the schemas no command reaches.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The schema modules of AWS SDK clients (and of the nested STS/SSO clients of the credential providers). */
export const SDK_SCHEMA_MODULE = /[\\/]@aws-sdk[\\/].+[\\/]dist-es[\\/](?:.+[\\/])?schemas[\\/]schemas_\d+\.js$/;

/**
 * `{ [_xN]: _m }` → `{ "xmlName": _m }` for every computed key that names a top-level string constant of the
 * module (`const _xN = "xmlName";`); any other computed key is left as it is.
 */
export function withLiteralTraitKeys(source) {
  const strings = new Map();
  for (const m of source.matchAll(/^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm)) strings.set(m[1], m[2]);
  return source.replace(/([{,]\s*)\[(_\w+)\]:/g, (all, before, id) => (strings.has(id) ? `${before}${strings.get(id)}:` : all));
}

/** The esbuild plugin applying withLiteralTraitKeys to the SDK's schema modules. */
export const literalSchemaTraitKeys = {
  name: 'origin-guard-literal-schema-trait-keys',
  setup(esbuild) {
    esbuild.onLoad({ filter: SDK_SCHEMA_MODULE }, async (args) => ({ contents: withLiteralTraitKeys(await readFile(args.path, 'utf8')), loader: 'js' }));
  },
};

/** esbuild's build() with the plugin; `options` are esbuild BuildOptions without plugins. */
export function bundleHandler(options) {
  return build({ ...options, plugins: [literalSchemaTraitKeys] });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await bundleHandler(JSON.parse(process.argv[2] ?? '{}'));
  } catch (error) {
    process.stderr.write(`origin-guard bundling failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
