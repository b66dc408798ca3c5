// `npm run build`, after tsc: the sidecar as one file, dist/bundle/sidecar.cjs, and V8's
// code cache for it, which `kaos-memory sidecar` loads when they exist (cli/sidecar.ts,
// cli/bundle.ts). Every agent pod starts a sidecar and waits for it, and node spent about
// half of the sidecar's start resolving, reading and compiling some 250 module files
// (ours, ioredis, pino, prom-client); one file takes that away, run as a CommonJS script
// it loads ~45 ms sooner than as an ES module, and the cache spares compiling what the
// start runs. Measurements: docs/adr/0038-the-sidecar-s-cpu-and-start.md.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { NODE_BUNDLE } from './bundle-options.mjs';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = 'dist/bundle/sidecar.cjs';

// The ES module bundle of earlier builds, if any: never loaded again.
rmSync(`${root}dist/bundle/sidecar.js`, { force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/sidecar/main.js'],
  outfile,
  ...NODE_BUNDLE,
});

// The code cache, made by this node under the flags a pod's sidecar runs with (V8 rejects
// a cache made under others, and the bundle then compiles as usual): the injected
// NODE_OPTIONS, and the rest from the same function that loads the bundle in a pod.
const { SIDECAR_NODE_OPTIONS } = await import(pathToFileURL(`${root}dist/lib/contract.js`).href);
const sidecar = pathToFileURL(`${root}dist/cli/sidecar.js`).href;
execFileSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `await (await import(${JSON.stringify(sidecar)})).sidecarCommand({ writeCache: true }); process.exit(0);`,
  ],
  { env: { ...process.env, NODE_OPTIONS: SIDECAR_NODE_OPTIONS }, stdio: 'inherit' },
);
