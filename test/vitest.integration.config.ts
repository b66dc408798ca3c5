import { defineConfig } from 'vitest/config';

// Integration and end-to-end suites: real processes, real Redis, a real kube-apiserver.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    exclude: ['test/controlplane/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    setupFiles: ['test/setup.ts'],
  },
});
