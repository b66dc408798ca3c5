import { defineConfig } from 'vitest/config';
import { NodeOrderSequencer } from './node/order.js';

// Integration and end-to-end suites: real processes, real Redis, a real kube-apiserver.
// Two projects: the files that own nothing machine-wide run three at a time (each starts its
// own Redis, API server and webhook on random ports); the real-node suites and the demo's
// stories on the node run one file at a time, on one node started once for the run
// (test/node/order.ts says in what order, harness/node/shared.ts how it is shared). Run
// together from this config, the node project comes after the other; `npm test` runs each
// project on its own, the node's beside the rest (scripts/test.sh).
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    setupFiles: ['test/setup.ts'],
    sequence: { sequencer: NodeOrderSequencer },
    projects: [
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [
            'test/controlplane/**',
            'test/node/**',
            'test/demo/demo.test.ts',
            // The quick tier's (vitest.config.ts): pure admission logic and one HTTPS server.
            'test/webhook/golden.test.ts',
            'test/webhook/fuzz.test.ts',
            'node_modules/**',
          ],
          fileParallelism: true,
          maxWorkers: 3,
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts', 'test/demo/demo.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          globalSetup: ['test/node/global-setup.ts'],
        },
      },
    ],
  },
});
