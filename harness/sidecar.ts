// The sidecar under test, either in this process (fast, for API tests) or as a
// real child process (kill -9, SIGTERM, memory), always on a random port.
import { randomBytes } from 'node:crypto';
import { createLogger } from '../lib/logger.js';
import { loadSidecarConfig } from '../sidecar/config.js';
import { Sidecar } from '../sidecar/server.js';
import { kaosMemory } from './kaos.js';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';
import { ManagedProcess, type Exit } from './process.js';

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
    // Off unless a test asks: sidecars running side by side cannot share the default 9790.
    MEMORY_METRICS_PORT: '0',
    ...env,
    MEMORY_SIDECAR_PORT: String(port),
  });
  const sidecar = new Sidecar(
    config,
    createLogger('test-sidecar', process.env.TEST_LOG_LEVEL ?? 'silent'),
  );
  await sidecar.start();
  const url = `http://127.0.0.1:${port}`;
  if (opts.waitReady ?? true) {
    await pollUntil('sidecar ready', async () => (await fetch(`${url}/readyz`)).ok);
  }
  return { sidecar, url, prefix, close: () => sidecar.close() };
}

export interface SidecarProcessOptions {
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Which route must answer 200 before start() resolves. Default /healthz. */
  ready?: '/healthz' | '/readyz';
  /** How often to poll it. Default 50 ms. */
  intervalMs?: number;
}

/** `kaos-memory sidecar` as its own process, as the image runs it. */
export class SidecarProcess implements RunningSidecar {
  proc!: ManagedProcess;
  /** Milliseconds from the last spawn to the first 200 from the ready route. */
  readyMs = 0;

  private constructor(
    readonly env: Record<string, string>,
    readonly port: number,
    readonly prefix: string,
    private readonly options: SidecarProcessOptions,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(
    env: Record<string, string>,
    options: SidecarProcessOptions = {},
  ): Promise<SidecarProcess> {
    const port = Number(env.MEMORY_SIDECAR_PORT ?? (await freePort()));
    const prefix = env.MEMORY_KEY_PREFIX ?? randomPrefix();
    const sp = new SidecarProcess(
      {
        LOG_LEVEL: 'warn',
        // Off unless asked: sidecars running side by side cannot share the default 9790.
        MEMORY_METRICS_PORT: '0',
        ...env,
        MEMORY_SIDECAR_PORT: String(port),
        MEMORY_KEY_PREFIX: prefix,
      },
      port,
      prefix,
      options,
    );
    await sp.spawn();
    return sp;
  }

  /** Starts (again) with the same environment and waits until the ready route answers. */
  async spawn(): Promise<void> {
    const { command, args } = kaosMemory(['sidecar'], this.options.nodeArgs);
    const started = performance.now();
    this.proc = new ManagedProcess({
      name: `sidecar :${this.port}`,
      command,
      args,
      env: { PATH: process.env.PATH ?? '', ...this.env },
    });
    const route = this.options.ready ?? '/healthz';
    await this.proc.waitUntil(`GET ${route}`, async () => (await fetch(`${this.url}${route}`)).ok, {
      timeoutMs: 20_000,
      intervalMs: this.options.intervalMs ?? 50,
    });
    this.readyMs = performance.now() - started;
  }

  get exited(): Promise<Exit> {
    return this.proc.exited;
  }

  kill(): Promise<Exit> {
    return this.proc.kill();
  }

  stop(): Promise<Exit> {
    return this.proc.stop();
  }

  async close(): Promise<void> {
    await this.proc.kill();
  }
}
