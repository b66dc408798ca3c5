// What the kubelet's probes cost an agent pod, both ways the webhook can inject them: an
// httpGet the kubelet makes itself to the sidecar's health listener (the sidecar's CPU per
// probe, each on a new connection as the kubelet's are), and an exec probe, a `node -e` in
// the container (the CPU of each such process, from this process's reaped children).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { probeCommand } from '../../webhook/container.js';
import { threadCpuNs } from './cpu.js';

/** CPU milliseconds of this process's reaped children so far (/proc/self/stat cutime + cstime). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[13]) + Number(fields[14])) / 100) * 1000;
}

/** CPU ms of one exec probe of the sidecar on `port`, the mean of `n`. */
export function execProbeMs(port: number, n: number): number {
  const [, ...args] = probeCommand(port, '/readyz');
  const before = childrenCpuMs();
  for (let i = 0; i < n; i++) {
    const run = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (run.status !== 0) throw new Error(`exec probe exited ${run.status}`);
  }
  return (childrenCpuMs() - before) / n;
}

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // agent: false, one connection per request: the kubelet does not keep them.
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
      );
    })
      .on('error', reject)
      .end();
  });
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
    await get(healthPort, path);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  const idle = ((performance.now() - began) / 1000) * idleMsPerS;
  return ((threadCpuNs(pid) - before) / 1e6 - idle) / n;
}
