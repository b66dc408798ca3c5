// The failure half on a real node, the chart installed with its defaults: the webhook's
// failurePolicy decides what happens to agent pods while no webhook runs; a webhook pod
// deleted while agent pods are being created is covered by the other replica (it drains on
// SIGTERM) and its PodDisruptionBudget refuses a second disruption; the bundled Redis pod
// deleted under a writing agent gives 503 with Retry-After, comes back from its volume, and
// loses no acknowledged event.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import {
  CHART,
  getJson,
  endSuite,
  startNodeWithChart,
  livePods,
  RELEASE,
  RELEASE_NS,
  type PodJson,
} from '../../harness/node/release.js';
import { pollUntil } from '../../harness/poll.js';

const WEBHOOK = `${RELEASE}-webhook`;
const WEBHOOK_PODS = 'app.kubernetes.io/component=webhook';
const INJECTED = 'memory.kaos.tools/status';
const log = (line: string) => console.log(`failures: ${line}`);

// The writer, in the project image (node): one event per 200 ms through the sidecar, each
// answer logged as a JSON line with its status and Retry-After, so the test reads exactly
// what the agent saw. Bounded below the session's 500 kept events, so nothing is trimmed.
const WRITER = `
const url = process.env.MEMORY_API_URL + '/v1/sessions/outage/events';
(async () => {
  for (let i = 1; i <= 450; i++) {
    const id = 'e-' + i;
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'user_message', content: String(i), event_id: id }),
        signal: AbortSignal.timeout(8000) });
      const body = await r.text();
      console.log(JSON.stringify({ id, status: r.status, retryAfter: r.headers.get('retry-after'),
        code: r.status >= 300 ? body.slice(0, 200) : undefined }));
    } catch (e) {
      console.log(JSON.stringify({ id, error: String(e && e.name) }));
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  setInterval(() => undefined, 1 << 30);
})();`;

const READ_ALL = `
(async () => {
  const ids = [];
  let cursor = '';
  for (;;) {
    const r = await fetch(process.env.MEMORY_API_URL + '/v1/sessions/outage/events' + cursor);
    const page = await r.json();
    if (r.status !== 200) throw new Error(JSON.stringify(page));
    ids.unshift(...page.events.map((e) => e.event_id));
    if (!page.next_cursor) break;
    cursor = '?cursor=' + encodeURIComponent(page.next_cursor);
  }
  console.log(JSON.stringify(ids));
})();`;

interface WriteLine {
  id: string;
  status?: number;
  retryAfter?: string | null;
  code?: string;
  error?: string;
}

function agentPod(name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: IMAGE_NAMES.busybox(), command: ['sleep', '3600'] }],
    },
  };
}

describe('failures on a real node, default install', () => {
  let cluster: NodeCluster;
  let agents: string;
  const kubectl = (...args: string[]) => cluster.kubectl(args);
  const attempt = (args: string[], input?: string) =>
    cluster.kubectl(args, input === undefined ? {} : { input }).then(
      (out) => ({ ok: true as const, out }),
      (err: Error) => ({ ok: false as const, out: err.message }),
    );
  const isInjected = (pod: PodJson) =>
    pod.metadata.annotations?.[INJECTED] === 'injected' &&
    [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some(
      (c) => c.name === 'kaos-memory',
    );
  const upgrade = (policy: string) =>
    cluster.helm(
      [
        'upgrade',
        RELEASE,
        CHART,
        '--namespace',
        RELEASE_NS,
        '--reuse-values',
        '--set',
        `webhook.failurePolicy=${policy}`,
        '--wait',
        '--timeout=3m',
      ],
      { timeoutMs: 200_000 },
    );
  const scaleWebhook = async (replicas: number) => {
    await kubectl('-n', RELEASE_NS, 'scale', `deployment/${WEBHOOK}`, `--replicas=${replicas}`);
    if (replicas === 0) {
      await pollUntil(
        'every webhook pod to be gone',
        async () =>
          (
            await getJson<{ items: unknown[] }>(
              cluster,
              '-n',
              RELEASE_NS,
              'get',
              'pods',
              '-l',
              WEBHOOK_PODS,
            )
          ).items.length === 0,
        { timeoutMs: 90_000, intervalMs: 500 },
      );
    } else {
      await kubectl(
        '-n',
        RELEASE_NS,
        'rollout',
        'status',
        `deployment/${WEBHOOK}`,
        '--timeout=120s',
      );
      // Ready pods are not yet a routed Service (the EndpointSlice, then kube-proxy's rules,
      // follow them): wait until the API server's own call is answered through it.
      await pollUntil(
        'the webhook answering through its Service',
        async () => {
          const r = await attempt(
            ['-n', agents, 'create', '--dry-run=server', '-o', 'json', '-f', '-'],
            JSON.stringify(agentPod('served', { agent: 'served-agent' })),
          );
          return r.ok && isInjected(JSON.parse(r.out) as PodJson);
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }
  };
  const policy = async () =>
    (
      await getJson<{ webhooks: { failurePolicy: string }[] }>(
        cluster,
        'get',
        'mutatingwebhookconfiguration',
        RELEASE,
      )
    ).webhooks[0]!.failurePolicy;

  beforeAll(async () => {
    cluster = await startNodeWithChart([], log);
    agents = await cluster.namespace('fail');
  }, 900_000);

  afterAll(() => endSuite(cluster), 60_000);

  it('admits agent pods uninjected with failurePolicy Ignore and no webhook, refuses them with Fail', async () => {
    const labels = { agent: 'policy-agent' };
    // The chart's default.
    expect(await policy()).toBe('Ignore');
    await scaleWebhook(0);
    await cluster.kubectl(['-n', agents, 'create', '-f', '-'], {
      input: JSON.stringify(agentPod('admitted', labels)),
    });
    const admitted = await getJson<PodJson>(cluster, '-n', agents, 'get', 'pod', 'admitted');
    expect(admitted.metadata.annotations?.[INJECTED]).toBeUndefined();
    expect(admitted.spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(admitted.spec.initContainers ?? []).toEqual([]);

    // The upgrade brings the replicas back (helm applies its manifest), so scale down again.
    await upgrade('Fail');
    expect(await policy()).toBe('Fail');
    await scaleWebhook(0);
    const refused = await attempt(
      ['-n', agents, 'create', '-f', '-'],
      JSON.stringify(agentPod('refused', labels)),
    );
    log(`Fail, no webhook: ${refused.out.split('\n').at(-1)}`);
    expect(refused.ok).toBe(false);
    expect(refused.out).toMatch(/failed calling webhook "inject\.memory\.kaos\.tools"/);
    expect((await attempt(['-n', agents, 'get', 'pod', 'refused'])).ok).toBe(false);

    // Restored: the webhook back, the next agent pod injected again (the tests below run
    // with Fail, where a failed call would be a refusal they count).
    await scaleWebhook(2);
    await cluster.kubectl(['-n', agents, 'create', '-f', '-'], {
      input: JSON.stringify(agentPod('restored', labels)),
    });
    expect(
      isInjected(await getJson<PodJson>(cluster, '-n', agents, 'get', 'pod', 'restored')),
    ).toBe(true);
    await kubectl('-n', agents, 'delete', 'pod', 'admitted', 'restored', '--wait=false');
  }, 420_000);

  it('injects every agent pod while a webhook pod is deleted, and its PDB refuses a second eviction', async () => {
    const labels = { agent: 'rollout-agent' };
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'rollout', namespace: agents },
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: agentPod('x', labels).spec },
      },
    };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment) });
    const [victim, survivor] = (await livePods(cluster, RELEASE_NS, WEBHOOK_PODS)).map(
      (p) => p.metadata.name,
    );
    expect(victim && survivor).toBeTruthy();
    const apiserverLogStart = readFileSync(cluster.logPath('kube-apiserver'), 'utf8').length;

    // Server-side dry-run creates go through the webhook like real ones, so a steady stream
    // of them covers the whole drain without filling the node with pods.
    const probes: { n: number; at: number; result: string }[] = [];
    let probing = true;
    const began = Date.now();
    const stream = (async () => {
      for (let n = 0; probing; n++) {
        const r = await attempt(
          ['-n', agents, 'create', '--dry-run=server', '-o', 'json', '-f', '-'],
          JSON.stringify(agentPod(`probe-${n}`, labels)),
        );
        const result = !r.ok
          ? `refused: ${r.out.split('\n').at(-1)}`
          : isInjected(JSON.parse(r.out) as PodJson)
            ? 'injected'
            : 'uninjected';
        probes.push({ n, at: Date.now() - began, result });
      }
    })();

    // The victim's own log, followed until it exits: what it answered after its SIGTERM.
    const victimLog = cluster
      .kubectl(['-n', RELEASE_NS, 'logs', '-f', victim!], { timeoutMs: 90_000 })
      .catch((err: Error) => err.message);
    await kubectl('-n', agents, 'scale', 'deployment/rollout', '--replicas=6');
    await kubectl('-n', RELEASE_NS, 'delete', 'pod', victim!, '--wait=false');
    const deletedAt = Date.now() - began;

    // While the replacement is not Ready yet, evicting the survivor would leave no webhook.
    const eviction = JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: survivor, namespace: RELEASE_NS },
      deleteOptions: { dryRun: ['All'] },
    });
    const evict = () =>
      attempt(
        [
          'create',
          '--raw',
          `/api/v1/namespaces/${RELEASE_NS}/pods/${survivor}/eviction`,
          '-f',
          '-',
        ],
        eviction,
      );
    let refusal = '';
    await pollUntil(
      'an eviction refused by the PodDisruptionBudget',
      async () => {
        const r = await evict();
        if (!r.ok) refusal = r.out;
        return !r.ok;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    log(
      `eviction refused ${Date.now() - began - deletedAt} ms after the deletion: ${refusal.split('\n').at(-1)}`,
    );
    expect(refusal).toMatch(/disruption budget/);

    await pollUntil(
      'the deleted webhook pod to be gone',
      async () => (await attempt(['-n', RELEASE_NS, 'get', 'pod', victim!])).ok === false,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const goneAt = Date.now() - began;
    await kubectl('-n', RELEASE_NS, 'rollout', 'status', `deployment/${WEBHOOK}`, '--timeout=120s');
    await kubectl('-n', agents, 'rollout', 'status', 'deployment/rollout', '--timeout=180s');
    // Admissions go on being answered by the replicas as they are now.
    const settled = probes.length;
    await pollUntil('three admissions after the rollouts', () => probes.length >= settled + 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    probing = false;
    await stream;
    // With both replicas Ready again, the same eviction is allowed (it was the budget).
    await pollUntil('the eviction to be allowed again', async () => (await evict()).ok, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });

    const victimLines = (await victimLog)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { time: number; msg: string; result?: string });
    const sigterm = victimLines.find((l) => l.msg === 'shutting down')?.time;
    const lastLine = victimLines.at(-1)?.time ?? 0;
    const duringDrain = victimLines.filter(
      (l) => sigterm !== undefined && l.time >= sigterm && l.msg === 'admission reviewed',
    );
    const beforeStop = victimLines.filter(
      (l) => l.msg === 'admission reviewed' && (sigterm === undefined || l.time < sigterm),
    );
    log(
      `victim: ${beforeStop.length} admissions answered before its SIGTERM; SIGTERM logged ${sigterm === undefined ? 'never' : `${sigterm - began} ms`} into the run, last line ${lastLine - (sigterm ?? lastLine)} ms after it, ${duringDrain.length} admissions answered while draining (${duringDrain.map((l) => l.result).join(',')})`,
    );
    expect(sigterm).toBeDefined();
    const failed = readFileSync(cluster.logPath('kube-apiserver'), 'utf8')
      .slice(apiserverLogStart)
      .split('\n')
      .filter((l) => l.includes('failed calling webhook'));
    const bad = probes.filter((p) => p.result !== 'injected');
    log(
      `webhook pod deleted at ${deletedAt} ms, gone at ${goneAt} ms; ${probes.length} dry-run creates over ${probes.at(-1)?.at} ms, ${bad.length} not injected; API server "failed calling webhook" lines: ${failed.length}`,
    );
    for (const line of [...bad.map((b) => JSON.stringify(b)), ...failed.slice(0, 5)]) log(line);
    const pods = await livePods(cluster, agents, 'agent=rollout-agent');
    expect(pods).toHaveLength(6);
    expect(pods.filter((p) => !isInjected(p)).map((p) => p.metadata.name)).toEqual([]);
    const events = await getJson<{ items: { reason: string; message: string }[] }>(
      cluster,
      '-n',
      agents,
      'get',
      'events',
      '--field-selector',
      'reason=FailedCreate',
    );
    expect(events.items.map((e) => e.message)).toEqual([]);
    // Admissions were answered while the deleted replica drained (how many depends on how
    // fast kubectl runs on this machine; that every one was injected is what counts).
    expect(probes.filter((p) => p.at > deletedAt && p.at < goneAt).length).toBeGreaterThan(0);
    expect(bad).toEqual([]);
    expect(failed).toEqual([]);
    await kubectl('-n', agents, 'delete', 'deployment', 'rollout', '--wait=false');
  }, 420_000);

  it('answers 503 with Retry-After while Redis is deleted, and loses no acknowledged event', async () => {
    const labels = { agent: 'outage-agent' };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'writer', labels },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'writer', image: IMAGE_NAMES.app(), command: ['node', '-e', WRITER] }],
      },
    };
    await cluster.kubectl(['-n', agents, 'create', '-f', '-'], { input: JSON.stringify(pod) });
    await kubectl('-n', agents, 'wait', '--for=condition=Ready', 'pod/writer', '--timeout=120s');
    const lines = async (): Promise<WriteLine[]> =>
      (await kubectl('-n', agents, 'logs', 'writer', '-c', 'writer'))
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as WriteLine);
    const acked = (all: WriteLine[]) => all.filter((l) => l.status !== undefined && l.status < 300);
    await pollUntil('20 acknowledged writes', async () => acked(await lines()).length >= 20, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });

    const redisBefore = await getJson<PodJson>(
      cluster,
      '-n',
      RELEASE_NS,
      'get',
      'pod',
      `${RELEASE}-redis-0`,
    );
    // Acknowledged before the deletion: only the AOF on the volume can bring these back.
    const ackedBeforeDeletion = acked(await lines()).map((l) => l.id);
    const deleted = Date.now();
    await kubectl('-n', RELEASE_NS, 'delete', 'pod', `${RELEASE}-redis-0`, '--wait=false');
    await pollUntil(
      'a 503 with Retry-After',
      async () => (await lines()).some((l) => l.status === 503 && l.retryAfter),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await pollUntil(
      'the new Redis pod to be Ready',
      async () => {
        const p = await getJson<
          PodJson & { status: { conditions?: { type: string; status: string }[] } }
        >(cluster, '-n', RELEASE_NS, 'get', 'pod', `${RELEASE}-redis-0`);
        return (
          p.metadata.uid !== redisBefore.metadata.uid &&
          !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        );
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const redisBack = Date.now() - deleted;
    const ackedBefore = acked(await lines()).length;
    await pollUntil(
      '20 more acknowledged writes',
      async () => acked(await lines()).length >= ackedBefore + 20,
      { timeoutMs: 90_000, intervalMs: 500 },
    );

    const all = await lines();
    const ackedIds = acked(all).map((l) => l.id);
    const stored = new Set(
      JSON.parse(
        await kubectl('-n', agents, 'exec', 'writer', '-c', 'writer', '--', 'node', '-e', READ_ALL),
      ) as string[],
    );
    const lost = ackedIds.filter((id) => !stored.has(id));
    const unavailable = all.filter((l) => l.status === 503);
    const other = all.filter(
      (l) => l.status === undefined || (l.status >= 300 && l.status !== 503),
    );
    log(
      `Redis back Ready ${redisBack} ms after its deletion; ${all.length} writes: ${ackedIds.length} acked, ${unavailable.length} 503 (Retry-After ${[...new Set(unavailable.map((l) => l.retryAfter))].join(',')}), ${other.length} other; ${stored.size} stored, ${lost.length} acked lost (${ackedBeforeDeletion.length} acked before the deletion)`,
    );
    for (const l of [...unavailable.slice(0, 2), ...other.slice(0, 5)]) log(JSON.stringify(l));
    expect(ackedBeforeDeletion.filter((id) => !stored.has(id))).toEqual([]);
    expect(lost).toEqual([]);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.every((l) => Number(l.retryAfter) > 0)).toBe(true);
    expect(other).toEqual([]);
    const sidecar = (
      await getJson<PodJson>(cluster, '-n', agents, 'get', 'pod', 'writer')
    ).status.initContainerStatuses?.find((s) => s.name === 'kaos-memory');
    expect(sidecar?.restartCount).toBe(0);
  }, 420_000);
});
