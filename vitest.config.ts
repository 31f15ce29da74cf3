import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.stack/**', '.stack-chaos/**', 'generated/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-runtime.ts'],
    // The Temporal worker's native bridge wants processes, not worker threads; files run one at a
    // time so that time-skipping servers, workers and Kafka consumers never compete on two cores.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 120_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
