// The floor server (floor-server.ts) in a process of its own, bundled into one CommonJS file
// with the sidecar's options (scripts/bundle-options.mjs), so the two load and run alike.
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '../../harness/process.js';
import { NODE_BUNDLE } from '../../scripts/bundle-options.mjs';

export interface FloorServer {
  proc: ManagedProcess;
  port: number;
  /** Spawn to the first /readyz 200, in ms. */
  readyMs: number;
  stop(): Promise<void>;
}

/**
 * Starts the floor server with the sidecar's environment `env` (its port, Redis, NODE_OPTIONS)
 * and the sidecar's extra node flags, if any.
 */
export async function startFloorServer(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<FloorServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kaos-floor-'));
  const outfile = join(dir, 'floor.cjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./floor-server.ts', import.meta.url))],
    outfile,
    ...NODE_BUNDLE,
  });
  const spawned = performance.now();
  const proc = new ManagedProcess({
    name: 'floor server',
    command: process.execPath,
    args: [...nodeArgs, outfile],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = `http://127.0.0.1:${env.MEMORY_SIDECAR_PORT}/readyz`;
    await proc.waitUntil('readyz', async () => (await fetch(url)).ok, { intervalMs: 5 });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    proc,
    port: Number(env.MEMORY_SIDECAR_PORT),
    readyMs: performance.now() - spawned,
    stop,
  };
}
