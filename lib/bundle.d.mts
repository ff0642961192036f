import type { BuildOptions, BuildResult, Plugin } from 'esbuild';

export declare const SDK_SCHEMA_MODULE: RegExp;
export declare function withLiteralTraitKeys(source: string): string;
export declare const literalSchemaTraitKeys: Plugin;
export declare function bundleHandler<O extends Omit<BuildOptions, 'plugins'>>(options: O): Promise<BuildResult<O>>;
