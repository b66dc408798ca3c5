// One container of a stored pod run as a local process, as a kubelet would run it:
// the image's entrypoint (`kaos-memory`, see kaos.ts) with the container's args and
// its rendered environment.
import type { V1Container } from '@kubernetes/client-node';
import { kaosMemory } from './kaos.js';
import { ManagedProcess, type Exit } from './process.js';
import { REPO_ROOT } from './root.js';

export class ContainerProcess {
  private readonly proc: ManagedProcess;

  constructor(
    readonly container: V1Container,
    env: Record<string, string>,
  ) {
    if (container.command) {
      throw new Error(`container ${container.name}: a command replaces the image entrypoint`);
    }
    const { command, args } = kaosMemory(container.args ?? []);
    // The image sets NODE_ENV; nothing of this shell's environment leaks in but PATH.
    this.proc = new ManagedProcess({
      name: container.name,
      command,
      args,
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Wait until GET {url}/readyz is 200 (the sidecar reaches Redis). */
  waitReady(url: string, timeoutMs = 30_000): Promise<void> {
    return this.proc.waitUntil(
      `${url}/readyz`,
      async () => (await fetch(`${url}/readyz`)).status === 200,
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** SIGKILL, as a node losing the pod or an OOM kill would: no shutdown code runs. */
  kill(): Promise<Exit> {
    return this.proc.kill();
  }

  /** SIGTERM, then SIGKILL after a grace period, as the kubelet stops a container. */
  stop(): Promise<Exit> {
    return this.proc.stop();
  }

  killNow(): void {
    this.proc.signal('SIGKILL');
  }
}
