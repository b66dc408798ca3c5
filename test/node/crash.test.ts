// A node whose process was killed without stopping it (SIGKILL, as an OOM kill or a
// cancelled CI job would) leaves processes, mounts and cgroups behind; `cli.ts down`
// removes them to the last, with the same cleanup every start runs first. The crash is
// the run's own node's, and the run's last node suite: nothing boots after it. That a
// start after the cleanup is a fresh node follows from nothing being left: it is a
// first start, which node.test.ts checks every run.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../harness/node/exec.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import { startNode } from '../../harness/node/release.js';
import { crashSharedNode } from '../../harness/node/shared.js';
import { leftovers } from '../../harness/node/teardown.js';
import { REPO_ROOT } from '../../harness/root.js';

describe('a node left running by a process that was killed', () => {
  it('leaves processes, mounts and cgroups behind, which the cleanup removes to the last', async () => {
    const cluster = await startNode();
    const ns = await cluster.namespace('crash');
    await cluster.kubectl([
      '-n',
      ns,
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
    await cluster.kubectl([
      '-n',
      ns,
      'wait',
      '--for=condition=Ready',
      'pod/left-behind',
      '--timeout=60s',
    ]);

    await crashSharedNode();
    const stale = leftovers();
    expect(stale.some((item) => item.includes('kubelet'))).toBe(true);
    expect(stale.some((item) => item.startsWith('mount '))).toBe(true);
    expect(stale.some((item) => item.startsWith('cgroup '))).toBe(true);
    // The pod's own container, still running with nobody to stop it.
    expect(stale.some((item) => item.includes('sleep 3600'))).toBe(true);

    const out = await run(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'harness/node/cli.ts'), 'down'],
      { cwd: REPO_ROOT, timeout: 120_000 },
    );
    expect(out).toMatch(/cleaning up after an earlier run \(\d+ leftovers\)/);
    // Processes, mounts, cgroups, links, nftables rules and paths: nothing.
    expect(leftovers()).toEqual([]);
  }, 900_000);
});
