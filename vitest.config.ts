import { defineConfig } from 'vitest/config';

// Unit tests live beside the code; they may use a real Redis but no control plane.
export default defineConfig({
  test: {
    include: ['{cli,lib,memory,sidecar,webhook,certs,ops}/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
