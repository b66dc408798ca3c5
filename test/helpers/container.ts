// One container of a stored pod run as a local process, as a kubelet would run it:
// the image's entrypoint (`node dist/cli/main.js`, or the sources through tsx
// when dist is stale) with the container's args and its rendered environment.
import { spawn, type ChildProcess } from 'node:child_process';
import type { V1Container } from '@kubernetes/client-node';
import { kaosMemory, REPO_ROOT } from './cli.js';
import { pollUntil } from './poll.js';
import { exitReason, isRunning, killChild, stopChild } from './process.js';

export class ContainerProcess {
  private readonly child: ChildProcess;
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
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Wait until GET {url}/readyz is 200 (the sidecar reaches Redis). */
  async waitReady(url: string, timeoutMs = 30_000): Promise<void> {
    await pollUntil(`${url}/readyz`, async () => (await fetch(`${url}/readyz`)).status === 200, {
      timeoutMs,
      dead: () => exitReason(this.child),
    }).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${this.container.name} not ready: ${reason}\n--- ${this.container.name} output ---\n${this.output.trim()}`,
        { cause: err },
      );
    });
  }

  /** SIGKILL, as a node losing the pod or an OOM kill would: no shutdown code runs. */
  kill(): Promise<void> {
    return killChild(this.child);
  }

  /** SIGTERM, then SIGKILL after a grace period, as the kubelet stops a container. */
  stop(): Promise<void> {
    return stopChild(this.child);
  }

  killNow(): void {
    if (isRunning(this.child)) this.child.kill('SIGKILL');
  }
}
