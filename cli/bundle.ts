// The sidecar's one-file bundle (scripts/bundle.mjs) run as a CommonJS script compiled
// with V8's code cache, which `npm run build` writes beside it. Every agent pod waits
// for its sidecar's start: imported as an ES module the bundle took ~45 ms longer to
// load than run as a script, and the cache spares compiling what the start runs
// (docs/adr/0038-the-sidecar-s-cpu-and-start.md, "Start, third pass").
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * What became of the code cache: `used`; `rejected` by V8 (made by another node or under
 * other V8 flags, e.g. a `sidecar.nodeOptions` of the chart's own: the bundle then
 * compiles as usual); `absent`.
 */
export type CodeCache = 'used' | 'rejected' | 'absent';

export interface LoadedBundle {
  exports: Record<string, unknown>;
  codeCache: CodeCache;
}

/** The cache's file beside the bundle's. */
export function cacheFile(bundle: string): string {
  return `${bundle}.cache`;
}

/**
 * Runs the CommonJS bundle at `bundle` and returns its exports. `writeCache` (the build,
 * under the sidecar's own V8 flags) writes the code cache of what loading compiled.
 */
export function loadBundle(bundle: string, options: { writeCache?: boolean } = {}): LoadedBundle {
  const source = readFileSync(bundle, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = options.writeCache ? undefined : readFileSync(cacheFile(bundle));
  } catch {
    // No cache beside the bundle: compile as usual.
  }
  // The wrapper node puts around a CommonJS module; line numbers in stack traces stay the file's.
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: bundle, ...(cachedData ? { cachedData } : {}) },
  );
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(
    module.exports,
    module.exports,
    createRequire(bundle),
    module,
    bundle,
    dirname(bundle),
  );
  if (options.writeCache) writeFileSync(cacheFile(bundle), script.createCachedData());
  const codeCache: CodeCache =
    cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';
  return { exports: module.exports, codeCache };
}
