// A node whose process was killed without stopping it (SIGKILL, as an OOM kill or a
// cancelled CI job would) leaves processes, mounts and cgroups behind; the next start
// cleans them up and starts fresh. The crash is the run's own node's: the next start is
// the run's node from here on, so the run still starts only this one more node, and its
// clean stop at the run's end is checked by the node project's globalSetup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import { endSuite, startNode } from '../../harness/node/release.js';
import { crashSharedNode } from '../../harness/node/shared.js';
import { leftovers } from '../../harness/node/teardown.js';

/** `kubectl run` of the node's busybox image, once (restartPolicy Never). */
const busybox = (cluster: NodeCluster, ns: string, name: string, ...command: string[]) =>
  cluster.kubectl([
    '-n',
    ns,
    'run',
    name,
    `--image=${IMAGE_NAMES.busybox()}`,
    '--image-pull-policy=Never',
    '--restart=Never',
    '--command',
    '--',
    ...command,
  ]);

describe('a node left running by a process that was killed', () => {
  let cluster: NodeCluster | undefined;

  beforeAll(async () => {
    cluster = await startNode();
  }, 900_000);

  afterAll(() => endSuite(cluster), 60_000);

  it('is cleaned up by the next start, which then runs fresh', async () => {
    const ns = await cluster!.namespace('crash');
    await busybox(cluster!, ns, 'left-behind', 'sleep', '3600');
    await cluster!.kubectl([
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

    const lines: string[] = [];
    cluster = await startNode((line) => lines.push(line));
    expect(lines.join('\n')).toMatch(/cleaning up after an earlier run/);
    // A fresh cluster: neither the old pod nor its namespace is there, and pods run again.
    expect(
      await cluster.kubectl([
        'get',
        'pods',
        '--all-namespaces',
        '-l',
        'run=left-behind',
        '-o',
        'name',
      ]),
    ).toBe('');
    expect(
      await cluster.kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']),
    ).toBe('');
    const fresh = await cluster.namespace('crash');
    await busybox(cluster, fresh, 'after', 'true');
    await cluster.kubectl([
      '-n',
      fresh,
      'wait',
      '--for=jsonpath={.status.phase}=Succeeded',
      'pod/after',
      '--timeout=60s',
    ]);
  }, 900_000);
});
