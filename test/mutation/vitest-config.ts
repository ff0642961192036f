import { defineConfig } from 'vitest/config';

/**
 * Vitest settings for mutation testing (`npm run mutation`, test/mutation/run.ts). Two parts, each its own Stryker
 * run with its own vitest file (`stryker.config.json` → vitest.unit.config.ts, `stryker.adapters.json` →
 * vitest.adapters.config.ts):
 * - `unit` (the core, `lambdas/core/`): the unit tests with in-memory fakes. The core is pure; its tests are the unit
 *   tests. Running the integration tests for each core mutant as well (they reach the core through the adapters)
 *   cost the whole run five times its time (about 2.5 h instead of half an hour, docs/mutation-report.md).
 * - `adapters` (the five adapters that write to targets): their own integration tests against moto_server (the
 *   global setup starts one per test runner), plus the unit tests that import an adapter. The reconciler's
 *   integration tests (reconcile*.test.ts) reach the security-group adapter too, but a mutant they do not kill
 *   costs all of them (about 15 s a mutant: 8 mutants a minute, measured); ec2-security-groups.test.ts tests the
 *   adapter itself.
 * One worker per test runner: Stryker's `concurrency` (one runner per core) is the only parallelism. Stryker's vitest
 * runner starts each runner with `pool: 'threads'` and one thread whatever this file says.
 */
const adapterTests = [
  'test/integration/wafv2-validator.test.ts',
  'test/integration/kong-route-validator.test.ts',
  'test/integration/kong-vault.test.ts',
  'test/integration/konnect.test.ts',
  'test/integration/cloudfront-sender.test.ts',
  'test/integration/ec2-security-groups.test.ts',
  'test/unit/reconcile-guard.test.ts',
];

export function mutationVitestConfig(part: 'unit' | 'adapters') {
  return defineConfig({
    root: new URL('../..', import.meta.url).pathname,
    test: {
      include: part === 'unit' ? ['test/unit/**/*.test.ts'] : adapterTests,
      globalSetup: part === 'unit' ? [] : ['test/support/global-setup.ts'],
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
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
    },
  });
}
