import { defineConfig } from 'vitest/config';

/**
 * Vitest settings for mutation testing (`npm run mutation`, stryker.config.json): the unit tests of the pure core
 * and the integration tests of the adapters that write to targets (those need moto_server: the global setup starts
 * one). `MUTATION_TESTS=unit` runs the unit tests only (no emulator), enough for a `--mutate lambdas/core/...` run.
 * One worker per test runner: Stryker's `concurrency` (2, one runner per core) is the only parallelism. Stryker's
 * vitest runner starts each runner with `pool: 'threads'` and one thread whatever this file says.
 */
const unitOnly = process.env.MUTATION_TESTS === 'unit';

export default defineConfig({
  test: {
    include: unitOnly
      ? ['test/unit/**/*.test.ts']
      : [
          'test/unit/**/*.test.ts',
          'test/integration/wafv2-validator.test.ts',
          'test/integration/kong-route-validator.test.ts',
          'test/integration/kong-vault.test.ts',
          'test/integration/cloudfront-sender.test.ts',
          'test/integration/reconcile.test.ts',
          'test/integration/rotation.test.ts',
          'test/integration/secrets-manager.test.ts',
        ],
    globalSetup: unitOnly ? [] : ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  },
});
