// The sidecar as production runs it: `node dist/cli/main.js sidecar`, a child
// process with its own event loop, configured through the environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { msSince } from './stats.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export class SidecarProcess {
  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    /** Milliseconds from spawn to the first 200 from /readyz. */
    readonly readyMs: number,
  ) {}

  /** Spawns the sidecar and polls /readyz every 5 ms until it answers 200. */
  static async start(
    env: Record<string, string>,
    port: number,
    nodeArgs: string[] = [],
  ): Promise<SidecarProcess> {
    const started = process.hrtime.bigint();
    const proc = spawn(process.execPath, [...nodeArgs, MAIN, 'sidecar'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`sidecar exited with ${proc.exitCode}`);
      if ((await status(port, '/readyz')) === 200) break;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error('sidecar not ready within 15 s');
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return new SidecarProcess(proc, port, msSince(started));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /**
   * Resident set size now (VmRSS), the part of it that is the process's own
   * (RssAnon: VmRSS less file-backed pages such as node's own binary), and the
   * peak so far (VmHWM), in bytes.
   */
  memory(): { rss: number; anon: number; peak: number } {
    const text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) * 1024;
    return { rss: kib('VmRSS'), anon: kib('RssAnon'), peak: kib('VmHWM') };
  }

  /** SIGTERM and wait for the exit; SIGKILL after 5 s. Returns the exit code. */
  async stop(): Promise<number | null> {
    const proc = this.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** The status of one GET, or 0 when the connection fails (not listening yet). */
function status(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The no-op control server (noop-server.ts) in its own process; resolves once it listens. */
export async function startNoopServer(port: number): Promise<{ stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./noop-server.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script, String(port)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`no-op server exited with ${code}`)));
  });
  return {
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
