// `npm run build`, after tsc: the sidecar as one file, dist/bundle/sidecar.cjs, and V8's
// code cache for it, which `kaos-memory sidecar` loads when they exist (cli/main.ts,
// cli/bundle.ts). Every agent pod starts a sidecar and waits for it, and node spent about
// half of the sidecar's start resolving, reading and compiling some 250 module files
// (ours, ioredis, pino, prom-client); one file takes that away, run as a CommonJS script
// it loads ~45 ms sooner than as an ES module, and the cache spares compiling what the
// start runs. Measurements: docs/adr/0038-the-sidecar-s-cpu-and-start.md.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = 'dist/bundle/sidecar.cjs';

// The ES module bundle of earlier builds, if any: never loaded again.
rmSync(`${root}dist/bundle/sidecar.js`, { force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/sidecar/main.js'],
  outfile,
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
});

// The code cache, made by this node under the flags a pod's sidecar runs with (V8 rejects
// a cache made under others, and the bundle then compiles as usual): the injected
// NODE_OPTIONS, and the heap flag cli/main.ts sets before loading the bundle.
const { SIDECAR_NODE_OPTIONS } = await import(pathToFileURL(`${root}dist/lib/contract.js`).href);
const writer = `
  const { limitHeapGrowth } = await import(${JSON.stringify(pathToFileURL(`${root}dist/sidecar/runtime.js`).href)});
  const { loadBundle } = await import(${JSON.stringify(pathToFileURL(`${root}dist/cli/bundle.js`).href)});
  limitHeapGrowth();
  loadBundle(${JSON.stringify(`${root}${outfile}`)}, { writeCache: true });
  process.exit(0);
`;
execFileSync(process.execPath, ['--input-type=module', '-e', writer], {
  env: { ...process.env, NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
  stdio: 'inherit',
});
