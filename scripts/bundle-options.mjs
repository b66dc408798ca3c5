// How the sidecar is bundled into one CommonJS file (scripts/bundle.mjs), shared with the
// benchmark's floor server (bench/lib/floor-process.ts), which must load as the sidecar does.
/** @type {import('esbuild').BuildOptions} */
export const NODE_BUNDLE = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Whitespace and syntax only: names stay as written, so stack traces and error names
  // read as in the sources. The source text is kept on the V8 heap, so smaller is less memory.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
};
