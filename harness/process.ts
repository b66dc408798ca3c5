// The one model of a process the harness starts (redis-server, etcd, the
// API server, the webhook, the sidecar, a pod's container): spawn it, keep the
// end of its output, poll until it is ready (failing at once if it dies), stop
// it as the kubelet would, and never leave it behind when the test process ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { pollUntil } from './poll.js';

export interface SpawnOptions {
  /** Shown in errors: "redis-server", "webhook", … */
  name: string;
  command: string;
  args?: string[];
  /** The whole environment; nothing of this process's leaks in but what the caller passes. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append output to this file (long-lived servers); otherwise its end is kept in memory. */
  logFile?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_CHARS = 20_000;
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its output is all read, however it ended. */
  readonly exited: Promise<Exit>;
  private tail = '';
  private readonly logFile: string | undefined;

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const fd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
    try {
      this.child = spawn(options.command, options.args ?? [], {
        cwd: options.cwd,
        env: options.env ?? { PATH: process.env.PATH ?? '' },
        stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const keep = (chunk: Buffer) => (this.tail = (this.tail + chunk.toString()).slice(-TAIL_CHARS));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.once('error', (err) => (this.tail += `\n${err.message}`));
    this.exited = new Promise((resolve) =>
      // 'close', not 'exit': the last lines it printed may still be in the pipe at 'exit'.
      this.child.once('close', (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      }),
    );
    live.add(this);
    installExitHook();
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Why the process is gone, or undefined while it runs (for pollUntil's `dead`). */
  exitReason(): string | undefined {
    return this.running ? undefined : `exited (${this.child.exitCode ?? this.child.signalCode})`;
  }

  /** The end of what the process printed. */
  output(): string {
    if (this.logFile === undefined) return this.tail;
    try {
      return readFileSync(this.logFile, 'utf8').slice(-TAIL_CHARS);
    } catch {
      return this.tail;
    }
  }

  /** Poll `check`; on a timeout or an early exit, fail with the end of the output. */
  async waitUntil(
    what: string,
    check: () => Promise<boolean> | boolean,
    options: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<void> {
    await pollUntil(what, check, { ...options, dead: () => this.exitReason() }).catch(
      (err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        const lines = this.output().trim().split('\n').slice(-40).join('\n');
        throw new Error(`${this.name}: ${reason}\n--- ${this.name} output (end) ---\n${lines}`, {
          cause: err,
        });
      },
    );
  }

  /** Send a signal without waiting (SIGSTOP and SIGCONT to hang and resume, say). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL, as a crash or an OOM kill would: no shutdown code runs. */
  kill(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`, as the kubelet stops a container. */
  async stop(graceMs = 5_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Resident memory now (VmRSS), the process's own part of it (RssAnon) and the peak (VmHWM), in bytes. */
  memory(): { rss: number; anon: number; peak: number } {
    const text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) * 1024;
    return { rss: kib('VmRSS'), anon: kib('RssAnon'), peak: kib('VmHWM') };
  }

  /**
   * How many times its main thread has slept and woken so far (voluntary context switches):
   * an idle process that wakes often is paying a timer.
   */
  wakeups(): number {
    const text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(text)?.[1]);
  }

  /** The processes started and not yet exited: what a test would leave behind. */
  static live(): ManagedProcess[] {
    return [...live];
  }
}

// A failing test, a thrown hook or a Ctrl-C must not leave a server behind.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const proc of live) proc.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  // Without a listener a signal ends the process with no 'exit' event: exit instead,
  // so every exit hook runs. A program with its own handler (the demo) cleans up itself.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(code);
    });
  }
}
