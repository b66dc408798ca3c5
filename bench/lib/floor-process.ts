// The floor server (floor-server.ts) in a process of its own, bundled into one CommonJS file
// with the sidecar's options (scripts/bundle-options.mjs), so the two load and run alike.
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '../../harness/process.js';
import { REPO_ROOT } from '../../harness/root.js';
import { NODE_BUNDLE } from '../../scripts/bundle-options.mjs';

export interface FloorServer {
  proc: ManagedProcess;
  port: number;
  /** Spawn to the first /readyz 200, in ms. */
  readyMs: number;
  stop(): Promise<unknown>;
}

/** Made once per benchmark process, beside the sidecar's bundle in dist/ (build output). */
let bundled: Promise<string> | undefined;

function floorBundle(): Promise<string> {
  const outfile = join(REPO_ROOT, 'dist/bench/floor-server.cjs');
  bundled ??= build({
    entryPoints: [fileURLToPath(new URL('./floor-server.ts', import.meta.url))],
    outfile,
    ...NODE_BUNDLE,
  }).then(() => outfile);
  return bundled;
}

/**
 * Starts the floor server with the sidecar's environment `env` (its port, Redis, NODE_OPTIONS)
 * and the sidecar's extra node flags, if any.
 */
export async function startFloorServer(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<FloorServer> {
  const bundle = await floorBundle();
  const port = Number(env.MEMORY_SIDECAR_PORT);
  const spawned = performance.now();
  const proc = new ManagedProcess({
    name: 'floor server',
    command: process.execPath,
    args: [...nodeArgs, bundle],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  try {
    const url = `http://127.0.0.1:${port}/readyz`;
    await proc.waitUntil('readyz', async () => (await fetch(url)).ok, { intervalMs: 5 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { proc, port, readyMs: performance.now() - spawned, stop: () => proc.stop() };
}
