// The demo's story on a real node: CI runs as root on Linux, so `npm run demo` plays on
// the run's node (KAOS_DEMO_NODE=running), which the demo leaves running with nothing of
// its own left on it: the main story, a forced failure and a Ctrl-C. The node's own start
// and stop are the run's (harness/node/shared.ts, checked by the globalSetup). The
// fallback, where no node can run, is fallback.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { RELEASE_NS, endSuite, removeRelease, startNode } from '../../harness/node/release.js';
import { DemoRunner, expectCleanExit, stopMidway, type DemoRun } from './run.js';

/** Plays on the run's node and leaves it running. */
const ON_NODE = { KAOS_DEMO_NODE: 'running' };
const NODE_TIMEOUT_MS = 300_000;

const demos = new DemoRunner();
const runDemo = demos.run.bind(demos);
let cluster: NodeCluster | undefined;
// The run's node, without the release an earlier suite left on it: the demo installs its own.
beforeAll(async () => {
  cluster = await startNode();
  await removeRelease(cluster, true);
  await endSuite(cluster);
}, 900_000);
afterAll(async () => {
  demos.close();
  await endSuite(cluster);
}, 60_000);

/**
 * The demo played on the run's node, which still runs, and removed what it added there:
 * the release (helm knows it no more), its namespace and the agents' (deleted or going).
 */
async function expectNodeAsFound(run: DemoRun): Promise<void> {
  expect(run.output).toContain('==> Setup 1/2 Use the single-node cluster running here');
  expect(run.output).toMatch(/stopped and removed: (namespace agents-\w+, )?release kaos-memory\n/);
  expect((await cluster!.kubectl(['get', 'node', '-o', 'name'])).trim()).toBe('node/kaos-node');
  expect((await cluster!.helm(['list', '--all-namespaces', '-q'])).trim()).toBe('');
  const namespaces = JSON.parse(await cluster!.kubectl(['get', 'namespaces', '-o', 'json'])) as {
    items: { metadata: { name: string }; status: { phase: string } }[];
  };
  // The release's namespace is gone, not going (the next run can start at once); the agents'
  // may still be going.
  const left = namespaces.items.filter(
    (n) =>
      n.metadata.name === RELEASE_NS ||
      (n.metadata.name.startsWith('agents-') && n.status.phase !== 'Terminating'),
  );
  expect(left, run.output).toEqual([]);
}

describe('npm run demo on the node running here', () => {
  it(
    'plays the seed story on a real node with real kubectl, proves each claim and leaves the node as found',
    async () => {
      const run = await runDemo(ON_NODE);
      expect(run.code, run.output).toBe(0);
      const out = run.output;

      expect(out).not.toContain('\x1b[');
      expect(out).not.toContain('no real node');
      // Setup: the node, then the chart with its defaults.
      expect(out).toMatch(/✓ node kaos-node Ready at https:\/\/10\.244\.0\.1:6443/);
      expect(out).toContain('already running (it stays running)');
      expect(out).toMatch(/✓ release kaos-memory installed and Ready in [\d.]+s/);
      expect(out).toContain('✓ both webhook replicas are Ready');
      // 1: the operator's Deployment, its pod injected with a native sidecar.
      expect(out).toContain('name: agent-memory-agent');
      expect(out).toContain('memory.kaos.tools/status: injected');
      expect(out).toContain('initContainers: [kaos-memory (restartPolicy Always)]');
      // 2: the write through the sidecar.
      expect(out).toMatch(
        /--post-data '\{"event_type":"user_message","content":"Remember this: the secret code is 42"\}'/,
      );
      expect(out).toMatch(/→ stored 1, event_id \S+/);
      // 3: kubectl exec into the bundled Redis: KAOS's two keys, sorted, with the sidecar's
      // own index keys (meta, ids, types) between them.
      expect(out).toMatch(
        /│ kaos:memory:events:conversation-1\n(?:.*│ kaos:memory:\w+:conversation-1\n)*.*│ kaos:memory:session:conversation-1\n/,
      );
      expect(out).toMatch(
        /1\) \{"event_id": "[^"]+", "timestamp": "[^"]+", "event_type": "user_message", "content": "Remember this: the secret code is 42"/,
      );
      expect(out).toContain('CONFIG GET appendonly → yes');
      // 4: a new pod, and the history read back through its sidecar.
      const after = out.slice(out.indexOf('Step 4/5'));
      const pods = [...out.matchAll(/✓ pod (agent-memory-agent-\S+) Running, uid (\S+)/g)];
      expect(pods).toHaveLength(2);
      expect(pods[1]![2]).not.toBe(pods[0]![2]);
      expect(after).toContain('user_message: "Remember this: the secret code is 42"');
      // 5: every headline checked.
      expect(out).toMatch(/16 checks, all passed\./);
      expect(out).toContain('Demo passed');
      expectCleanExit(run);
      await expectNodeAsFound(run);
    },
    NODE_TIMEOUT_MS,
  );

  it(
    'names the failed step, exits non-zero and still removes what it added to the node',
    async () => {
      const run = await runDemo({ ...ON_NODE, DEMO_FAIL_AT: '3' });
      expect(run.code, run.output).toBe(1);
      expect(run.output).toContain(
        '✗ FAILED at Step 3/5 (Look inside Redis): forced failure (DEMO_FAIL_AT=3)',
      );
      expect(run.output).not.toContain('Demo passed');
      expectCleanExit(run);
      await expectNodeAsFound(run);
    },
    NODE_TIMEOUT_MS,
  );

  it(
    'cleans up the node on Ctrl-C, which a terminal sends to the whole process group',
    async () => {
      const run = await runDemo(ON_NODE, stopMidway('SIGINT', true, 'Running, uid'));
      expect(run.code, run.output).toBe(130);
      expect(run.output).toMatch(/SIGINT during Step [1-4]\/5: stopping/);
      expect(run.output).toContain('Demo stopped by SIGINT');
      // The node's processes dying of the same Ctrl-C are not reported as a failed step.
      expect(run.output).not.toContain('FAILED');
      expectCleanExit(run);
      await expectNodeAsFound(run);
    },
    NODE_TIMEOUT_MS,
  );
});
