import { defineConfig } from 'vitest/config';

// Test selection for mutation runs (stryker.config.mjs sets BATON_MUTATE_TESTS per group).
const include = (process.env.BATON_MUTATE_TESTS ?? 'src/link/**/*.test.ts').split(',').filter(Boolean);

export default defineConfig({
  test: {
    include,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
