import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import the runtime by its package name, as notebooks and generated code do.
export default defineConfig({
  resolve: {
    alias: { cellar: fileURLToPath(new URL('./runtime/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts', 'generated/**/*.test.ts'],
    // Limits only against a hang, never a speed check: tests must pass on a loaded machine too
    // (speed aims live in `npm run bench`).
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
    // Many suites mostly wait (a Jupyter kernel starting, redis, npm ci, Chromium): more files at
    // once than cores keeps the whole run well inside CI's hour on a 2-core machine.
    maxWorkers: 4,
  },
});
