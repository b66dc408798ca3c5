// Stopping the child processes the tests start (servers, control plane, containers).
import type { ChildProcess } from 'node:child_process';

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** For pollUntil's `dead`: why the child is gone, or undefined while it runs. */
export function exitReason(child: ChildProcess): string | undefined {
  return isRunning(child) ? undefined : `exited (${child.exitCode ?? child.signalCode})`;
}

/** SIGKILL, as a crash or an OOM kill would: no shutdown code runs. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return;
  const exited = exitOf(child);
  child.kill('SIGKILL');
  await exited;
}

/** SIGTERM, then SIGKILL after `graceMs`, as the kubelet stops a container. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(child)) return;
  const exited = exitOf(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// Only while running: 'exit' has not been emitted yet, so this resolves.
function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
