// One sidecar start, measured the same way wherever a bench compares starts: spawn to the
// first /readyz 200 (polled every 5 ms), the CPU the process used until then (/proc, 10 ms
// ticks) and its RssAnon a second later. The process is left running for the caller.
import { SIDECAR_NODE_OPTIONS } from '../../lib/contract.js';
import { freePort } from '../../harness/ports.js';
import { ManagedProcess } from '../../harness/process.js';
import { cpuSeconds } from './cpu.js';

/** A start: milliseconds to ready, CPU milliseconds to ready, RssAnon (MiB) 1 s later. */
export interface Start {
  readyMs: number;
  cpuMs: number;
  anonMiB: number;
}

export interface StartedSidecar {
  proc: ManagedProcess;
  port: number;
  start: Start;
}

/**
 * Starts `command args` as the sidecar, with the injected NODE_OPTIONS, on a free port of
 * its own and its own key prefix (`${prefix}:${port}`), and measures the start. The caller
 * kills `proc`; a start that fails is killed here.
 */
export async function startSidecar(
  command: string,
  args: string[],
  options: { redisUrl: string; prefix: string; cwd?: string; logFile?: string },
): Promise<StartedSidecar> {
  const port = await freePort();
  const spawned = performance.now();
  const proc = new ManagedProcess({
    name: [command, ...args].join(' '),
    command,
    args,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.logFile ? { logFile: options.logFile } : {}),
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
      LOG_LEVEL: 'warn',
      MEMORY_REDIS_URL: options.redisUrl,
      MEMORY_SIDECAR_PORT: String(port),
      MEMORY_METRICS_PORT: '0',
      MEMORY_KEY_PREFIX: `${options.prefix}:${port}`,
    },
  });
  try {
    await proc.waitUntil(
      'readyz',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      { intervalMs: 5 },
    );
    const readyMs = performance.now() - spawned;
    const cpuMs = cpuSeconds(proc.pid) * 1000;
    await new Promise((r) => setTimeout(r, 1000));
    return { proc, port, start: { readyMs, cpuMs, anonMiB: proc.memory().anon / 1024 / 1024 } };
  } catch (err) {
    await proc.kill();
    throw err;
  }
}
