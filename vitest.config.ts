import { defineConfig } from 'vitest/config';

// The quick tier: unit tests beside the code (they may use a real Redis, no control plane),
// and the webhook's admission goldens and /mutate fuzz, which need neither, so a
// `npx vitest run` after a webhook change checks them.
export default defineConfig({
  test: {
    include: [
      '{cli,lib,memory,sidecar,webhook,certs,ops}/**/*.test.ts',
      'test/webhook/golden.test.ts',
      'test/webhook/fuzz.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
