// The injected sidecar on a real node, the chart installed with its defaults: the kubelet
// starts the agent only once the native sidecar is up, a Job's pod completes while its
// sidecar still runs, the kubelet's probes (httpGet on the pod IP) follow Redis (readiness
// only: a Redis outage never restarts the sidecar), the sidecar runs unprivileged on a
// read-only root, and a session far larger than the sidecar's memory limit is read in
// pages, concurrently, with no OOM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, SIDECAR_HEALTH_PORT } from '../../lib/contract.js';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import {
  containerStatus,
  getJson,
  endSuite,
  startNodeWithChart,
  RELEASE,
  RELEASE_NS,
  type PodJson,
} from '../../harness/node/release.js';
import { pollUntil } from '../../harness/poll.js';

const SIDECAR = 'kaos-memory';
const log = (line: string) => console.log(`sidecar: ${line}`);

// The agent (project image, for node's fetch): its very first act is one GET of the
// sidecar's /readyz, logged, so the log says whether the sidecar was ready before it ran.
const AGENT = `
fetch(process.env.MEMORY_API_URL + '/readyz').then(
  (r) => console.log('first-readyz=' + r.status),
  (e) => console.log('first-readyz=' + String(e && e.cause && e.cause.code || e)),
);
setInterval(() => undefined, 1 << 30);`;

// 60 messages of 500 KB (30 MB, beside a 256 MiB limit) written one by one.
const WRITE_BIG = `
(async () => {
  const statuses = [];
  const content = 'x'.repeat(500_000);
  for (let i = 1; i <= 60; i++) {
    const r = await fetch(process.env.MEMORY_API_URL + '/v1/sessions/big/events', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'user_message', content, event_id: 'big-' + i }) });
    await r.text();
    statuses.push(r.status);
  }
  console.log(JSON.stringify(statuses));
})();`;

// Three rounds of four whole-session reads at once (each following next_cursor), plus the
// context and the KAOS-shaped route, which read the session too.
const READ_BIG = `
const api = process.env.MEMORY_API_URL;
async function all() {
  const ids = []; let cursor = ''; let pages = 0; let maxBytes = 0;
  for (;;) {
    const r = await fetch(api + '/v1/sessions/big/events' + cursor);
    const text = await r.text();
    if (r.status !== 200) return { status: r.status, body: text.slice(0, 200) };
    pages++; maxBytes = Math.max(maxBytes, text.length);
    const page = JSON.parse(text);
    ids.unshift(...page.events.map((e) => e.event_id));
    if (!page.next_cursor) return { status: 200, pages, maxBytes, ids: ids.length,
      ordered: ids.every((id, i) => id === 'big-' + (i + 1)) };
    cursor = '?cursor=' + encodeURIComponent(page.next_cursor);
  }
}
const status = (path) => fetch(api + path).then(async (r) => ({ status: r.status, bytes: (await r.text()).length }));
(async () => {
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    rounds.push(await Promise.all([all(), all(), all(), all(),
      status('/v1/sessions/big/context?max_events=60'), status('/memory/events?session_id=big&limit=60')]));
  }
  console.log(JSON.stringify(rounds));
})();`;

// What the sidecar process is: its ids, capabilities and whether its root is writable.
const IDENTITY = `
const fs = require('fs');
const status = fs.readFileSync('/proc/1/status', 'utf8');
const field = (name) => (status.match(new RegExp('^' + name + ':\\\\s*(.*)$', 'm')) || [])[1];
let root;
try { fs.writeFileSync('/kaos-probe', 'x'); root = 'writable'; } catch (e) { root = e.code; }
console.log(JSON.stringify({ uid: field('Uid'), gid: field('Gid'), capEff: field('CapEff'),
  capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'), root }));`;

/** The agent's readiness timing, by annotation: not ready after 2 misses 2 s apart, not 3 x 10 s. */
const READINESS = { periodSeconds: 2, failureThreshold: 2 };

function agentPod(name: string, command: string[]) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { agent: 'sidecar-agent' },
      annotations: {
        [ANNOTATIONS.readinessPeriodSeconds]: String(READINESS.periodSeconds),
        [ANNOTATIONS.readinessFailureThreshold]: String(READINESS.failureThreshold),
      },
    },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'agent', image: IMAGE_NAMES.app(), command }],
    },
  };
}

describe('the injected sidecar on a real node, default install', () => {
  let cluster: NodeCluster;
  let agents: string;
  const kubectl = (...args: string[]) => cluster.kubectl(args);
  const pod = (name: string) => getJson<PodJson>(cluster, '-n', agents, 'get', 'pod', name);
  const node = (name: string, script: string) =>
    cluster.kubectl(['-n', agents, 'exec', name, '-c', 'agent', '--', 'node', '-e', script], {
      timeoutMs: 300_000,
    });
  const podReady = async (name: string) =>
    (
      await getJson<{ status: { conditions?: { type: string; status: string }[] } }>(
        cluster,
        '-n',
        agents,
        'get',
        'pod',
        name,
      )
    ).status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

  beforeAll(async () => {
    cluster = await startNodeWithChart([], log);
    agents = await cluster.namespace('sidecar');
  }, 900_000);

  afterAll(() => endSuite(cluster), 60_000);

  it('starts the agent only once the native sidecar answers, and is Ready only once Redis does', async () => {
    const created = Date.now();
    await cluster.kubectl(['-n', agents, 'create', '-f', '-'], {
      input: JSON.stringify(agentPod('agent', ['node', '-e', AGENT])),
    });
    await kubectl('-n', agents, 'wait', '--for=condition=Ready', 'pod/agent', '--timeout=120s');
    log(`agent pod Ready ${Date.now() - created} ms after its creation`);
    const p = await pod('agent');
    expect(p.spec.initContainers?.map((c) => c.name)).toEqual([SIDECAR]);
    const sidecarStart = containerStatus(p, SIDECAR)?.state.running?.startedAt;
    const agentStart = containerStatus(p, 'agent')?.state.running?.startedAt;
    log(`sidecar started ${sidecarStart}, agent started ${agentStart}`);
    expect(sidecarStart && agentStart).toBeTruthy();
    expect(Date.parse(agentStart!)).toBeGreaterThanOrEqual(Date.parse(sidecarStart!));
    await pollUntil(
      "the agent's first answer",
      async () => (await kubectl('-n', agents, 'logs', 'agent', '-c', 'agent')).includes('first'),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    // The startup probe asks /healthz (up), not /readyz: a Redis outage does not hold agents'
    // starts. So the agent's first request is answered, 200 or, while Redis is still connecting,
    // 503 with Retry-After; never refused. The pod is Ready (traffic) only once /readyz is 200.
    expect((await kubectl('-n', agents, 'logs', 'agent', '-c', 'agent')).trim()).toMatch(
      /^first-readyz=(200|503)$/,
    );
    const READYZ =
      "fetch(process.env.MEMORY_API_URL + '/readyz').then((r) => console.log(r.status))";
    expect(
      (
        await kubectl('-n', agents, 'exec', 'agent', '-c', 'agent', '--', 'node', '-e', READYZ)
      ).trim(),
    ).toBe('200');
  });

  it('completes a Job whose agent exits while its sidecar still runs', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'one-shot', namespace: agents },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { agent: 'job-agent' } },
          spec: {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'agent',
                image: IMAGE_NAMES.busybox(),
                command: [
                  'sh',
                  '-c',
                  `wget -q -O - --header 'Content-Type: application/json' --post-data '{"event_type":"user_message","content":"done"}' "$MEMORY_API_URL/v1/sessions/job/events"`,
                ],
              },
            ],
          },
        },
      },
    };
    const began = Date.now();
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(job) });
    await kubectl(
      '-n',
      agents,
      'wait',
      '--for=condition=complete',
      'job/one-shot',
      '--timeout=180s',
    );
    log(`Job complete ${Date.now() - began} ms after its creation`);
    const status = await getJson<{ status: { succeeded?: number; failed?: number } }>(
      cluster,
      '-n',
      agents,
      'get',
      'job',
      'one-shot',
    );
    expect(status.status).toMatchObject({ succeeded: 1 });
    expect(status.status.failed ?? 0).toBe(0);
    const pods = await getJson<{ items: PodJson[] }>(
      cluster,
      '-n',
      agents,
      'get',
      'pods',
      '-l',
      'job-name=one-shot',
    );
    expect(pods.items.map((p) => p.status.phase)).toEqual(['Succeeded']);
    const [jobPod] = pods.items;
    expect(containerStatus(jobPod!, 'agent')?.state.terminated).toMatchObject({ exitCode: 0 });
    // The agent's write went through the sidecar.
    expect(await kubectl('-n', agents, 'logs', jobPod!.metadata.name, '-c', 'agent')).toContain(
      '"stored":1',
    );
  });

  it('runs the sidecar as uid 1000 with no capabilities on a read-only root', async () => {
    const out = await cluster.kubectl([
      '-n',
      agents,
      'exec',
      'agent',
      '-c',
      SIDECAR,
      '--',
      'node',
      '-e',
      IDENTITY,
    ]);
    const identity = JSON.parse(out) as Record<string, string>;
    log(`sidecar process: ${out.trim()}`);
    expect(identity.uid?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(identity.gid?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(identity.capEff).toBe('0000000000000000');
    expect(identity.capBnd).toBe('0000000000000000');
    expect(identity.noNewPrivs).toBe('1');
    expect(identity.root).toBe('EROFS');
  });

  it('turns readiness off while Redis is away and back on after, with no restart', async () => {
    const probe = (await pod('agent')).spec.initContainers?.[0]?.readinessProbe;
    expect(probe).toMatchObject(READINESS);
    // The kubelet asks the sidecar's health listener on the pod IP itself: no exec.
    expect(probe?.httpGet).toMatchObject({ path: '/readyz', port: SIDECAR_HEALTH_PORT });
    expect(probe?.exec).toBeUndefined();
    const sts = `statefulset/${RELEASE}-redis`;
    const began = Date.now();
    await kubectl('-n', RELEASE_NS, 'scale', sts, '--replicas=0');
    await pollUntil('the sidecar to be not ready', async () => !(await podReady('agent')), {
      timeoutMs: 120_000,
      intervalMs: 1_000,
    });
    const notReady = Date.now() - began;
    expect(containerStatus(await pod('agent'), SIDECAR)?.ready).toBe(false);

    const back = Date.now();
    await kubectl('-n', RELEASE_NS, 'scale', sts, '--replicas=1');
    await kubectl('-n', RELEASE_NS, 'rollout', 'status', sts, '--timeout=120s');
    await pollUntil('the sidecar to be ready again', () => podReady('agent'), {
      timeoutMs: 120_000,
      intervalMs: 1_000,
    });
    log(
      `not ready ${notReady} ms after Redis scaled to 0; ready ${Date.now() - back} ms after it scaled back`,
    );
    const sidecar = containerStatus(await pod('agent'), SIDECAR);
    expect(sidecar).toMatchObject({ ready: true, restartCount: 0 });
    expect(containerStatus(await pod('agent'), 'agent')?.restartCount).toBe(0);
  }, 300_000);

  it('reads a session far larger than its memory limit in pages, concurrently, with no OOM', async () => {
    const began = Date.now();
    const writes = JSON.parse(await node('agent', WRITE_BIG)) as number[];
    log(`60 × 500 KB written in ${Date.now() - began} ms: ${[...new Set(writes)].join(',')}`);
    expect(writes).toEqual(Array.from({ length: 60 }, () => 201));

    const readAt = Date.now();
    const rounds = JSON.parse(await node('agent', READ_BIG)) as Record<string, unknown>[][];
    log(`3 rounds of concurrent reads in ${Date.now() - readAt} ms: ${JSON.stringify(rounds[0])}`);
    for (const round of rounds) {
      for (const read of round.slice(0, 4)) {
        expect(read).toMatchObject({ status: 200, ids: 60, ordered: true });
        expect(read.pages).toBeGreaterThan(1);
        // One page stays within MEMORY_MAX_READ_BYTES (4 MiB) plus its envelope.
        expect(read.maxBytes).toBeLessThan(4 * 1024 * 1024 + 64 * 1024);
      }
      // The context and KAOS routes read the same big events, within the same byte bound.
      for (const read of round.slice(4)) {
        expect(read).toMatchObject({ status: 200 });
        expect(read.bytes).toBeGreaterThan(1_000_000);
        expect(read.bytes).toBeLessThan(4 * 1024 * 1024 + 64 * 1024);
      }
    }
    const sidecar = containerStatus(await pod('agent'), SIDECAR);
    log(
      `sidecar after the reads: restarts ${sidecar?.restartCount}, lastState ${JSON.stringify(sidecar?.lastState)}`,
    );
    expect(sidecar).toMatchObject({ ready: true, restartCount: 0 });
    expect(sidecar?.lastState?.terminated).toBeUndefined();
  }, 420_000);
});
