// What the kubelet's probes cost an agent pod, both ways the webhook can inject them: an
// httpGet the kubelet makes itself to the sidecar's health listener (the sidecar's CPU per
// probe, each on a new connection as the kubelet's are), and an exec probe, a `node -e` in
// the container (the CPU of each such process, from this process's reaped children).
import { spawnSync } from 'node:child_process';
import { Agent } from 'node:http';
import { probeCommand } from '../../webhook/container.js';
import { childrenCpuSeconds, threadCpuNs } from './cpu.js';
import { httpCall } from './load.js';

/** No keep-alive: a connection per request, as the kubelet's probes come. */
const NEW_CONNECTIONS = new Agent({ keepAlive: false });

/** CPU ms of one exec probe of the sidecar on `port`, the mean of `n`. */
export function execProbeMs(port: number, n: number): number {
  const [, ...args] = probeCommand(port, '/readyz');
  const before = childrenCpuSeconds();
  for (let i = 0; i < n; i++) {
    const run = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (run.status !== 0) throw new Error(`exec probe exited ${run.status}`);
  }
  return ((childrenCpuSeconds() - before) * 1000) / n;
}

/**
 * The sidecar's CPU ms per httpGet probe of `path`, the mean of `n` made `gapMs` apart (it
 * sleeps between them, as between a kubelet's), less what it spends idle over the same time.
 */
export async function httpProbeMs(
  pid: number,
  healthPort: number,
  path: '/healthz' | '/readyz',
  n: number,
  idleMsPerS: number,
): Promise<number> {
  const gapMs = 50;
  const began = performance.now();
  const before = threadCpuNs(pid);
  for (let i = 0; i < n; i++) {
    await httpCall(
      NEW_CONNECTIONS,
      healthPort,
      { method: 'GET', path: () => path, status: 200 },
      i,
    );
    await new Promise((r) => setTimeout(r, gapMs));
  }
  const idle = ((performance.now() - began) / 1000) * idleMsPerS;
  return ((threadCpuNs(pid) - before) / 1e6 - idle) / n;
}
