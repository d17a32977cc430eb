import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import the runtime by its package name, as notebooks and generated code do.
export default defineConfig({
  resolve: {
    alias: { cellar: fileURLToPath(new URL('./runtime/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts', 'generated/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
