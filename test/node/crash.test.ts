// A node whose owner died without stopping it (SIGKILL, as an OOM kill or a cancelled
// CI job would) leaves processes, mounts and cgroups behind; the next start cleans
// them up and starts fresh, and its stop leaves nothing: no process, mount, cgroup,
// link, rule or path. It starts nodes of its own, so the run's shared node stops first.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCluster, unavailableReason } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import { stopSharedNode } from '../../harness/node/shared.js';
import { leftovers, nodeProcesses } from '../../harness/node/teardown.js';

const CLI = join(import.meta.dirname, '../../harness/node/cli.ts');

describe('a node left running by a process that was killed', () => {
  let cluster: NodeCluster | undefined;

  beforeAll(async () => {
    expect(await stopSharedNode()).toEqual([]);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('is cleaned up by the next start, which then runs and stops with nothing left behind', async () => {
    const reason = unavailableReason();
    if (reason) throw new Error(reason);

    // A node in another process, with a running pod, then that process SIGKILLed.
    const owner = spawn(process.execPath, ['--import', 'tsx', CLI, 'up'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    owner.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    owner.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ownerExit = new Promise((resolve) => owner.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const kubeconfig = /KUBECONFIG=(\S+)/.exec(output)?.[1];
        if (output.includes('running;') && kubeconfig) {
          clearInterval(timer);
          resolve();
        } else if (owner.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`the node did not start:\n${output}`));
        }
      }, 100);
    });
    // The node the other process started, through a handle that does not own it.
    const first = NodeCluster.attach();
    await first.kubectl([
      'run',
      'left-behind',
      `--image=${IMAGE_NAMES.busybox()}`,
      '--image-pull-policy=Never',
      '--restart=Never',
      '--command',
      '--',
      'sleep',
      '3600',
    ]);
    await first.kubectl(['wait', '--for=condition=Ready', 'pod/left-behind', '--timeout=60s']);
    owner.kill('SIGKILL');
    await ownerExit;
    const stale = leftovers();
    expect(stale.some((item) => item.includes('kubelet'))).toBe(true);
    expect(stale.some((item) => item.startsWith('mount '))).toBe(true);
    expect(stale.some((item) => item.startsWith('cgroup '))).toBe(true);

    const lines: string[] = [];
    cluster = await NodeCluster.start({ log: (line) => lines.push(line) });
    expect(lines.join('\n')).toMatch(/cleaning up after an earlier run/);
    // A fresh cluster: the old pod is not there.
    expect(await cluster.kubectl(['get', 'pods', '-o', 'name'])).toBe('');
    await cluster.stop();
    expect(leftovers()).toEqual([]);
    expect(nodeProcesses().map((p) => `${p.pid} ${p.cmdline.join(' ')}`)).toEqual([]);
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((line) => /kubelet|containerd|netns/.test(line));
    expect(mounts).toEqual([]);
  }, 300_000);
});
