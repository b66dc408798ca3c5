// `kaos-memory sidecar`'s `run`, loaded under the runtime flag it runs with: the one-file
// bundle (scripts/bundle.mjs) with its code cache (cli/bundle.ts) when it was made from
// this build, else the module graph (the sources, a `tsc` alone). The bundle starts in about
// half the CPU time (docs/adr/0038-the-sidecar-s-cpu-and-start.md). `npm run build` writes
// the cache through this same function, so it is made under the same flags (V8 refuses a
// cache made under others).
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { limitHeapGrowth } from '../sidecar/runtime.js';
import { loadBundle } from './bundle.js';

type Run = typeof import('../sidecar/main.js').run;

/** The sidecar's command; `writeCache` (the build) writes the bundle's code cache too. */
export async function sidecarCommand(
  options: { writeCache?: boolean } = {},
): Promise<(argv: string[]) => Promise<void>> {
  // Before the sidecar's modules load: the first full GCs happen while they do.
  limitHeapGrowth();
  const bundle = fileURLToPath(new URL('../bundle/sidecar.cjs', import.meta.url));
  const graph = new URL('../sidecar/main.js', import.meta.url);
  if (!newer(bundle, graph)) {
    if (options.writeCache) throw new Error(`${bundle} is missing or older than the build`);
    return ((await import(graph.href)) as { run: Run }).run;
  }
  const { exports, codeCache } = loadBundle(bundle, options);
  const { run } = exports as { run: Run };
  return (argv) => run(argv, { codeCache });
}

/** Whether `file` exists and is at least as new as `than`. */
function newer(file: string, than: URL): boolean {
  try {
    return statSync(file).mtimeMs >= statSync(than).mtimeMs;
  } catch {
    return false;
  }
}
