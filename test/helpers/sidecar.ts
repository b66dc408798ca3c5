// The sidecar under test, either in this process (fast, for API tests) or as a
// real child process (for kill -9 and SIGTERM tests), always on a random port.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../lib/logger.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { Sidecar } from '../../sidecar/server.js';
import { freePort, waitFor } from './ports.js';
import { pollUntil } from './poll.js';
import { exitReason, isRunning } from './process.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function randomPrefix(): string {
  return `test:${randomBytes(4).toString('hex')}`;
}

export interface RunningSidecar {
  url: string;
  prefix: string;
  close(): Promise<void>;
}

/** An in-process sidecar; waits until /readyz says Redis answers unless told not to. */
export async function startSidecar(
  env: Record<string, string>,
  opts: { waitReady?: boolean } = {},
): Promise<RunningSidecar & { sidecar: Sidecar }> {
  const port = await freePort();
  const prefix = env.MEMORY_KEY_PREFIX ?? randomPrefix();
  const config = loadSidecarConfig({
    MEMORY_KEY_PREFIX: prefix,
    ...env,
    MEMORY_SIDECAR_PORT: String(port),
  });
  const sidecar = new Sidecar(
    config,
    createLogger('test-sidecar', process.env.TEST_LOG_LEVEL ?? 'silent'),
  );
  await sidecar.start();
  const url = `http://127.0.0.1:${port}`;
  if (opts.waitReady ?? true)
    await waitFor('sidecar ready', async () => (await fetch(`${url}/readyz`)).ok);
  return { sidecar, url, prefix, close: () => sidecar.close() };
}

export class SidecarProcess implements RunningSidecar {
  proc: ChildProcess | undefined;
  output = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  private constructor(
    readonly env: Record<string, string>,
    readonly port: number,
    readonly prefix: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(env: Record<string, string>): Promise<SidecarProcess> {
    const port = Number(env.MEMORY_SIDECAR_PORT ?? (await freePort()));
    const prefix = env.MEMORY_KEY_PREFIX ?? randomPrefix();
    const sp = new SidecarProcess(
      { LOG_LEVEL: 'warn', ...env, MEMORY_SIDECAR_PORT: String(port), MEMORY_KEY_PREFIX: prefix },
      port,
      prefix,
    );
    await sp.spawn();
    return sp;
  }

  /** Starts (again) with the same environment and waits until /healthz answers. */
  async spawn(): Promise<void> {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'sidecar'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exit = new Promise((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await pollUntil(
      `sidecar on ${this.port}`,
      async () => (await fetch(`${this.url}/healthz`)).ok,
      {
        timeoutMs: 20_000,
        intervalMs: 50,
        dead: () => {
          const why = exitReason(proc);
          return why && `${why}: ${this.output}`;
        },
      },
    );
  }

  async kill(
    signal: NodeJS.Signals = 'SIGKILL',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc;
    if (!proc || !this.exit) throw new Error('not started');
    if (isRunning(proc)) proc.kill(signal);
    return this.exit;
  }

  async close(): Promise<void> {
    if (this.proc) await this.kill();
  }
}

/** JSON over HTTP with the status, for assertions. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
