// `npm run build`, after tsc: the sidecar as one file, dist/bundle/sidecar.js, which
// `kaos-memory sidecar` loads when it exists (cli/main.ts). Every agent pod starts a
// sidecar and waits for it, and node spent about half of the sidecar's start resolving,
// reading and compiling some 250 module files (ours, ioredis, pino, prom-client); one
// file takes that away. Measurements: docs/adr/0038-the-sidecar-s-cpu-and-start.md.
import { build } from 'esbuild';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ['dist/sidecar/main.js'],
  outfile: 'dist/bundle/sidecar.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Whitespace and syntax only: names stay as written, so stack traces and error names
  // read as in the sources. The source text is kept on the V8 heap, so smaller is less memory.
  minifyWhitespace: true,
  minifySyntax: true,
  // The CommonJS packages inside require node's built-in modules by name.
  banner: {
    js: "import { createRequire as __kaosRequire } from 'node:module'; const require = __kaosRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});
