// `npm run demo` as CI runs it: demo/main.ts as its own process (the install parts
// of scripts/demo.sh are what `npm test` already did), in its own process group and
// with its own TMPDIR, so the test can tell that nothing it started outlives it.
// CI runs as root on Linux, so the demo plays its story on a real node: the run's node
// (KAOS_DEMO_NODE=running), which the demo leaves running with nothing of its own left
// on it; the main story, a forced failure and a Ctrl-C run there. The node's own start
// and stop are the run's (harness/node/shared.ts, checked by the globalSetup).
// The fallback (local processes, where no node can run) is forced with KAOS_DEMO_NODE=0
// for its own story and the SIGTERM test, which are cheaper there.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { RELEASE_NS, endSuite, removeRelease, startNode } from '../../harness/node/release.js';
import { REPO_ROOT } from '../../harness/root.js';

/** Plays the fallback even where a real node could run (demo/main.ts). */
const FALLBACK = { KAOS_DEMO_NODE: '0' };
/** Plays on the run's node and leaves it running. */
const ON_NODE = { KAOS_DEMO_NODE: 'running' };
const NODE_TIMEOUT_MS = 300_000;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Processes of the demo's process group still alive after it exited. */
  leftovers: string[];
  /** What the demo left in its TMPDIR. */
  leftFiles: string[];
}

const scratch = mkdtempSync(join(tmpdir(), 'kaos-demo-test-'));
const running = new Set<number>();
let cluster: NodeCluster | undefined;
// The run's node, without the release an earlier suite left on it: the demo installs its own.
beforeAll(async () => {
  cluster = await startNode();
  await removeRelease(cluster, true);
  await endSuite(cluster);
}, 900_000);
afterAll(async () => {
  // A demo still running here means a test timed out: stop its whole group.
  for (const pid of running) process.kill(-pid, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
  await endSuite(cluster);
}, 60_000);

/** Run the demo; `onOutput` sees the output so far each time more arrives. */
function runDemo(
  env: Record<string, string> = {},
  onOutput?: (output: string, pid: number) => void,
): Promise<DemoRun> {
  const tmp = mkdtempSync(join(scratch, 'run-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts'], {
    cwd: REPO_ROOT,
    // Its own process group: every process it starts stays in it unless it escapes.
    detached: true,
    env: { ...process.env, TMPDIR: tmp, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child.pid!);
  let output = '';
  const more = (chunk: Buffer) => {
    output += chunk.toString();
    onOutput?.(output, child.pid!);
  };
  child.stdout.on('data', more);
  child.stderr.on('data', more);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      running.delete(child.pid!);
      resolve({
        code,
        signal,
        output,
        leftovers: processGroup(child.pid!),
        // tsx keeps a compile cache in the temp folder; that one is tsx's, not the demo's.
        leftFiles: readdirSync(tmp).filter((name) => !name.startsWith('tsx-')),
      });
    });
  });
}

/** Live (non-zombie) processes whose process group is `pgid`, as "pid command". */
function processGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces, so split after its ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') {
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      found.push(`${pid} ${comm}`);
    }
  }
  return found;
}

function expectCleanExit(run: DemoRun): void {
  expect(run.leftovers, run.output).toEqual([]);
  expect(run.leftFiles, run.output).toEqual([]);
  expect(run.output).toContain('==> Cleanup');
}

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
  const left = namespaces.items
    .filter((n) => n.metadata.name === RELEASE_NS || n.metadata.name.startsWith('agents-'))
    .filter((n) => n.status.phase !== 'Terminating');
  expect(left, run.output).toEqual([]);
  // The next run starts from a node without them.
  await removeRelease(cluster!, true);
}

describe('npm run demo', () => {
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

  it('plays the fallback story with local processes where no node runs, and says why', async () => {
    const run = await runDemo(FALLBACK);
    expect(run.code, run.output).toBe(0);
    const out = run.output;

    // Not a terminal: plain text for CI logs.
    expect(out).not.toContain('\x1b[');
    expect(out).toContain('! no real node: KAOS_DEMO_NODE=0 asks for the fallback;');
    // 1: the injected sidecar and env, read back from the API.
    expect(out).toMatch(/memory\.kaos\.tools\/status: injected/);
    expect(out).toMatch(
      /memory\.kaos\.tools\/injected: >-\n.*\{"version":"[^"]+","initContainers":\["kaos-memory"\]/,
    );
    expect(out).toMatch(/- name: kaos-memory\n.*image: ghcr\.io\/kaos-tools\/kaos-memory/);
    expect(out).toMatch(/MEMORY_API_URL: http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain('MEMORY_REDIS_PASSWORD: (from Secret redis-auth, key password)');
    // 2: the agent's writes acknowledged.
    expect(out).toMatch(
      /"event_type":"user_message","content":"Remember this: the secret code is 42"\}\n.*→ 201/,
    );
    // 3: the keys and the raw stored events.
    expect(out).toMatch(/kaos:memory:session:conversation-1 {2}hash/);
    expect(out).toMatch(/kaos:memory:events:conversation-1 {2}list/);
    expect(out).toMatch(
      /1\) \{"event_id": "[^"]+", "timestamp": "[^"]+", "event_type": "user_message"/,
    );
    // 4: read back through the API after a SIGKILL and a new process.
    const after = out.slice(out.indexOf('Step 4/5'));
    expect(after).toMatch(/kill -9 \d+/);
    expect(after).toContain('user_message: "Remember this: the secret code is 42"');
    expect(after).toContain('User: Remember this: the secret code is 42');
    // 5: every headline checked.
    expect(out).toMatch(/\d+ checks, all passed\./);
    expect(out).toContain('Demo passed');
    expectCleanExit(run);
  });

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

  it('on the fallback too: names the failed step and stops every local process', async () => {
    const run = await runDemo({ ...FALLBACK, DEMO_FAIL_AT: '3' });
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain(
      '✗ FAILED at Step 3/5 (Look inside Redis): forced failure (DEMO_FAIL_AT=3)',
    );
    expect(run.output).toMatch(/stopped and removed: sidecar, webhook, control plane, Redis/);
    expect(run.output).not.toContain('Demo passed');
    expectCleanExit(run);
  });

  it('fails at the control plane step with the fix when the binaries are missing', async () => {
    const emptyCache = join(scratch, 'empty-cache');
    mkdirSync(emptyCache, { recursive: true });
    const run = await runDemo({ KAOS_CACHE_DIR: emptyCache });
    expect(run.code, run.output).toBe(1);
    // No binaries, no node either: the demo says so before falling back.
    expect(run.output).toMatch(/! no real node: not built: .*\(run scripts\/controlplane\.sh\)/);
    expect(run.output).toMatch(
      /FAILED at Setup 2\/4 \(Start the Kubernetes control plane\): control plane not built: run scripts\/controlplane\.sh/,
    );
    // Redis had started: it is stopped and its data folder removed.
    expect(run.output).toMatch(/stopped and removed: Redis, temporary files/);
    expectCleanExit(run);
  });

  // Once the sidecar serves (on the fallback: 'sidecar pid'; on the node: the agent's
  // pod Running), every kind of process the demo runs is running.
  const stopMidway = (signal: NodeJS.Signals, group: boolean, marker = 'sidecar pid') => {
    let sent = false;
    return (output: string, pid: number) => {
      if (!sent && output.includes(marker)) {
        sent = true;
        process.kill(group ? -pid : pid, signal);
      }
    };
  };

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

  it('cleans up the fallback on Ctrl-C too', async () => {
    const run = await runDemo(FALLBACK, stopMidway('SIGINT', true));
    expect(run.code, run.output).toBe(130);
    expect(run.output).toMatch(/SIGINT during Step [2-4]\/5: stopping/);
    expect(run.output).toContain('Demo stopped by SIGINT');
    // The sidecar dying of the same Ctrl-C is not reported as a failed step.
    expect(run.output).not.toContain('FAILED');
    expectCleanExit(run);
  });

  it('cleans up on a SIGTERM to the demo alone (a cancelled CI job)', async () => {
    const run = await runDemo(FALLBACK, stopMidway('SIGTERM', false));
    expect(run.code, run.output).toBe(143);
    expect(run.output).toMatch(/SIGTERM during Step [2-4]\/5: stopping/);
    expect(run.output).toContain('Demo stopped by SIGTERM');
    expect(run.output).not.toContain('FAILED');
    expect(run.output).not.toContain('Demo passed');
    expectCleanExit(run);
  });
});
