import { defineConfig } from 'vitest/config';

/**
 * Two groups, one after the other. Vitest's default is one worker per core less one, which on a 2-core machine
 * runs every file in turn although most of them wait on the emulator: the first group (unit, integration, CDK,
 * deployed, browser) runs two files at once. The end-to-end traffic scenarios judge timing (propagation windows,
 * tick gaps), so they run last, one file at a time, with their own moto_server and nothing else beside them.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      // Handlers called in-process would print EMF lines; test/unit/metrics.test.ts turns them back on.
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
