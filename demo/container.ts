// One container of a stored pod run as a local process, as a kubelet would run it:
// the image's entrypoint (`node dist/cli/main.js`, or the sources through tsx
// when dist is stale) with the container's args and its rendered environment.
import { spawn, type ChildProcess } from 'node:child_process';
import type { V1Container } from '@kubernetes/client-node';
import { kaosMemory, REPO_ROOT } from '../test/helpers/cli.js';
import { waitFor } from '../test/helpers/ports.js';

export class ContainerProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private output = '';

  constructor(
    readonly container: V1Container,
    env: Record<string, string>,
  ) {
    if (container.command) {
      throw new Error(`container ${container.name}: a command replaces the image entrypoint`);
    }
    const { command, args } = kaosMemory(container.args ?? []);
    // The image sets NODE_ENV; nothing of this shell's environment leaks in but PATH.
    this.child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-8_000));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.once('error', (err) => (this.output += `\n${err.message}`));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait until GET {url}/readyz is 200 (the sidecar reaches Redis). */
  async waitReady(url: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${url}/readyz`,
      async () => {
        if (!this.running) throw new Error('the process exited');
        return (await fetch(`${url}/readyz`)).status === 200;
      },
      timeoutMs,
      100,
    ).catch((err: unknown) => {
      const cause =
        err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new Error(
        `${this.container.name} not ready at ${url}${cause}\n--- ${this.container.name} output ---\n${this.output.trim()}`,
        { cause: err },
      );
    });
  }

  /** SIGKILL, as a node losing the pod or an OOM kill would: no shutdown code runs. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after a grace period, as the kubelet stops a container. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}
