// The seed notebook on a real node, step by step with real kubectl, after `helm install`
// of the chart as it ships (default values): the webhook replicas and the bundled Redis
// as installed, then the operator's agent Deployment injected, a message written through
// the sidecar, seen inside Redis, and read back through the sidecar of the pod that
// replaced a deleted one. One node start and one install for all of it (each costs a
// minute or two of CI).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import {
  containerStatus,
  execIn,
  getJson,
  endSuite,
  startNodeWithChart,
  RELEASE,
  RELEASE_NS,
  type PodJson,
} from '../../harness/node/release.js';
import {
  deployAgent,
  deployWalkthroughRedis,
  inAgent,
  inspectRedis,
  readBack,
  recycle,
  redisCli,
  redisAdmin,
  SEED,
  STATUS_ANNOTATION,
  WALKTHROUGH_REDIS,
  walkthroughRedisCli,
  walkthroughRedisUrl,
  writeMessage,
  type AgentSpec,
} from '../../harness/node/seed.js';
import { readStatus } from '../../webhook/status.js';

interface Deployment {
  spec: { template: { spec: { containers: { image: string }[] } } };
  status: { readyReplicas?: number };
}

// One node and one install for both blocks below.
let cluster: NodeCluster;
const kubectl = (...args: string[]) => cluster.kubectl(args);

beforeAll(async () => {
  cluster = await startNodeWithChart();
}, 900_000);

afterAll(() => endSuite(cluster), 60_000);

describe('the seed notebook on a real node, default install', () => {
  let ns: string;
  let first: PodJson;

  beforeAll(async () => {
    ns = await cluster.namespace('agents');
  });

  it('runs both webhook replicas Ready with the self-managed certificate in place', async () => {
    const deploy = await getJson<Deployment>(
      cluster,
      '-n',
      RELEASE_NS,
      'get',
      'deployment',
      `${RELEASE}-webhook`,
    );
    expect(deploy.status.readyReplicas).toBe(2);
    expect(deploy.spec.template.spec.containers[0]?.image).toBe(IMAGE_NAMES.app());
    const mwc = await getJson<{
      webhooks: { clientConfig: { caBundle?: string; service?: object } }[];
    }>(cluster, 'get', 'mutatingwebhookconfiguration', RELEASE);
    expect(mwc.webhooks[0]?.clientConfig.caBundle).toBeTruthy();
    expect(mwc.webhooks[0]?.clientConfig.service).toMatchObject({
      name: `${RELEASE}-webhook`,
      namespace: RELEASE_NS,
    });
    const secret = await getJson<{ data: Record<string, string> }>(
      cluster,
      '-n',
      RELEASE_NS,
      'get',
      'secret',
      `${RELEASE}-webhook-tls`,
    );
    expect(Object.keys(secret.data)).toEqual(expect.arrayContaining(['tls.crt', 'tls.key']));
  });

  it('runs the bundled Redis on its bound PersistentVolumeClaim', async () => {
    const pvcs = await getJson<{ items: { status: { phase: string } }[] }>(
      cluster,
      '-n',
      RELEASE_NS,
      'get',
      'pvc',
    );
    expect(pvcs.items).toHaveLength(1);
    expect(pvcs.items[0]?.status.phase).toBe('Bound');
    const sts = await getJson<Deployment>(
      cluster,
      '-n',
      RELEASE_NS,
      'get',
      'statefulset',
      `${RELEASE}-redis`,
    );
    expect(sts.status.readyReplicas).toBe(1);
  });

  it("injects the operator's agent Deployment: a native sidecar, both containers Ready", async () => {
    first = await deployAgent(cluster, ns);
    expect(first.metadata.annotations?.[STATUS_ANNOTATION]).toBe('injected');
    expect(first.status.phase).toBe('Running');
    // A native sidecar: an init container that keeps running beside the agent.
    expect(first.spec.initContainers?.map((c) => c.name)).toContain(SEED.sidecar);
    expect(containerStatus(first, SEED.sidecar)).toMatchObject({ ready: true, started: true });
    expect(containerStatus(first, SEED.container)).toMatchObject({ ready: true });

    // The image under the chart's hardened securityContext: uid 1000, read-only root.
    const inSidecar = (cmd: string) => execIn(cluster, ns, first.metadata.name, SEED.sidecar, cmd);
    expect((await inSidecar('id -u; id -g')).split('\n').slice(0, 2)).toEqual(['1000', '1000']);
    expect(await inSidecar('touch /app/x 2>&1 || echo refused')).toMatch(/Read-only file system/);
  });

  it('stores what the agent writes through $MEMORY_API_URL in the bundled Redis', async () => {
    const answer = await writeMessage(cluster, ns, first);
    expect(answer.stored).toBe(1);

    const redis = await inspectRedis(cluster, await redisAdmin(cluster));
    expect(redis.keys.length).toBeGreaterThanOrEqual(2);
    expect(redis.keys).toEqual(
      expect.arrayContaining([
        `${SEED.prefix}:session:${SEED.session}`,
        `${SEED.prefix}:events:${SEED.session}`,
      ]),
    );
    const stored = redis.events.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(stored).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: SEED.message }),
    ]);
  });

  it('reads the history back through the sidecar of the pod that replaced a deleted one', async () => {
    const second = await recycle(cluster, ns, first);
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    expect(second.metadata.annotations?.[STATUS_ANNOTATION]).toBe('injected');
    expect(containerStatus(second, SEED.sidecar)).toMatchObject({ ready: true });
    expect(containerStatus(second, SEED.container)).toMatchObject({ ready: true });
    // The old pod is gone, not merely terminating beside the new one.
    await kubectl('-n', ns, 'wait', '--for=delete', `pod/${first.metadata.name}`, '--timeout=60s');

    const history = await readBack(cluster, ns, second);
    expect(history.agent).toBe(SEED.agent);
    expect(history.events).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: SEED.message }),
    ]);
  });
});

interface EnvJson {
  name: string;
  value?: string;
  valueFrom?: object;
}
interface PodEnvJson {
  spec: {
    initContainers?: { name: string; env?: EnvJson[]; volumeMounts?: { name: string }[] }[];
    containers: { name: string; env?: EnvJson[] }[];
    volumes?: { name: string }[];
  };
}

/** The env of one container of the pod as the API server stored it (after injection). */
function envOf(pod: PodJson, container: string): Record<string, EnvJson> {
  const spec = (pod as unknown as PodEnvJson).spec;
  const found = [...(spec.initContainers ?? []), ...spec.containers].find(
    (c) => c.name === container,
  );
  if (!found) throw new Error(`pod ${pod.metadata.name} has no container ${container}`);
  return Object.fromEntries((found.env ?? []).map((e) => [e.name, e]));
}

// KAOS's redis-memory walkthrough as written (step 1: a Redis Deployment and Service
// `redis` in the agent's namespace; step 3: the agent's own MEMORY_TYPE=redis and
// MEMORY_REDIS_URL; step 5: `kubectl exec deploy/redis -- redis-cli KEYS 'kaos:memory:*'`),
// after the same default install, beside a plain agent that keeps the chart's defaults.
// The injected sidecar follows the agent's own URL (webhook/follow.ts), so what is written
// through $MEMORY_API_URL is where the walkthrough looks, and nowhere else.
describe("the walkthrough's explicit setup", () => {
  let ns: string;
  let explicit: AgentSpec;
  const plain: AgentSpec = {
    agent: 'plain-agent',
    session: 'walkthrough-plain',
    message: 'Remember this: the plain code is 7',
  };
  const pods: Record<'explicit' | 'plain', PodJson | undefined> = {
    explicit: undefined,
    plain: undefined,
  };
  const podOf = (which: 'explicit' | 'plain'): PodJson => {
    const pod = pods[which];
    if (!pod) throw new Error(`no ${which} agent pod: an earlier step failed`);
    return pod;
  };
  const keysOf = async (session: string) => ({
    walkthrough: (await walkthroughRedisCli(cluster, ns, 'KEYS', `${SEED.prefix}:*`)).filter((k) =>
      k.includes(session),
    ),
    chart: await redisCli(
      cluster,
      await redisAdmin(cluster),
      'KEYS',
      `${SEED.prefix}:*${session}*`,
    ),
  });

  beforeAll(async () => {
    ns = await cluster.namespace('redis-memory-example');
    explicit = {
      agent: 'memory-agent',
      env: [
        { name: 'MEMORY_TYPE', value: 'redis' },
        { name: 'MEMORY_REDIS_URL', value: walkthroughRedisUrl(ns) },
      ],
      session: 'walkthrough-explicit',
      message: 'Remember this: the secret code is 42',
    };
  });

  it("step 1: the walkthrough's own Redis, Deployment and Service redis, no password", async () => {
    await deployWalkthroughRedis(cluster, ns);
    expect(await walkthroughRedisCli(cluster, ns, 'PING')).toEqual(['PONG']);
    const svc = await getJson<{ spec: { ports: { port: number }[] } }>(
      cluster,
      '-n',
      ns,
      'get',
      'service',
      WALKTHROUGH_REDIS,
    );
    expect(svc.spec.ports.map((p) => p.port)).toEqual([6379]);
    // A fresh Redis: nothing of kaos-memory's in it yet.
    expect(await walkthroughRedisCli(cluster, ns, 'KEYS', `${SEED.prefix}:*`)).toEqual([]);
  });

  it("step 3: the explicit agent's sidecar follows its MEMORY_REDIS_URL; the plain one's does not", async () => {
    // Both at once: the two pods start side by side.
    [pods.explicit, pods.plain] = await Promise.all([
      deployAgent(cluster, ns, explicit),
      deployAgent(cluster, ns, plain),
    ]);
    const url = walkthroughRedisUrl(ns);

    // The agent keeps what it set; the webhook adds the sidecar's URL beside it.
    const agentEnv = envOf(podOf('explicit'), SEED.container);
    expect(agentEnv.MEMORY_TYPE?.value).toBe('redis');
    expect(agentEnv.MEMORY_REDIS_URL?.value).toBe(url);
    expect(agentEnv.MEMORY_API_URL?.value).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The sidecar uses the same Redis, without the chart's password (not that server's).
    const sidecarEnv = envOf(podOf('explicit'), SEED.sidecar);
    expect(sidecarEnv.MEMORY_REDIS_URL?.value).toBe(url);
    expect(sidecarEnv.MEMORY_REDIS_PASSWORD).toBeUndefined();
    expect(sidecarEnv.MEMORY_REDIS_PASSWORD_FILE).toBeUndefined();
    const followed = readStatus(podOf('explicit').metadata.annotations);
    expect(followed?.redis).toEqual({ from: SEED.container });
    expect(followed?.volumes).toBeUndefined();

    // The plain agent: the chart's Redis, its password from the Secret's volume.
    const plainSidecar = envOf(podOf('plain'), SEED.sidecar);
    expect(plainSidecar.MEMORY_REDIS_URL?.value).toContain(`${RELEASE}-redis.${RELEASE_NS}`);
    expect(plainSidecar.MEMORY_REDIS_PASSWORD_FILE?.value).toBeTruthy();
    expect(envOf(podOf('plain'), SEED.container).MEMORY_REDIS_URL?.value).toContain(
      `@${RELEASE}-redis.${RELEASE_NS}`,
    );
    const record = readStatus(podOf('plain').metadata.annotations);
    expect(record?.redis).toBeUndefined();
    expect(record?.volumes?.length).toBe(1);

    for (const pod of [podOf('explicit'), podOf('plain')]) {
      expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBe('injected');
      expect(containerStatus(pod, SEED.sidecar)).toMatchObject({ ready: true, started: true });
    }
  });

  it('step 4: each agent writes a message through $MEMORY_API_URL', async () => {
    expect((await writeMessage(cluster, ns, podOf('explicit'), explicit)).stored).toBe(1);
    expect((await writeMessage(cluster, ns, podOf('plain'), plain)).stored).toBe(1);
  });

  it("step 5: `kubectl exec deploy/redis -- redis-cli KEYS 'kaos:memory:*'` shows the explicit agent's session", async () => {
    const keys = await walkthroughRedisCli(cluster, ns, 'KEYS', `${SEED.prefix}:*`);
    // The walkthrough's own check: at least the session and its events.
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(keys).toEqual(
      expect.arrayContaining([
        `${SEED.prefix}:session:${explicit.session}`,
        `${SEED.prefix}:events:${explicit.session}`,
      ]),
    );
    const events = await walkthroughRedisCli(
      cluster,
      ns,
      'LRANGE',
      `${SEED.prefix}:events:${explicit.session}`,
      '0',
      '-1',
    );
    expect(events.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: explicit.message }),
    ]);
    // The index lists the explicit agent's session alone.
    expect(
      await walkthroughRedisCli(cluster, ns, 'ZRANGE', `${SEED.prefix}:sessions`, '0', '-1'),
    ).toEqual([explicit.session]);
  });

  it("keeps each agent's session in its own Redis only", async () => {
    const ofExplicit = await keysOf(explicit.session);
    expect(ofExplicit.walkthrough.length).toBeGreaterThanOrEqual(2);
    expect(ofExplicit.chart).toEqual([]);

    const ofPlain = await keysOf(plain.session);
    expect(ofPlain.walkthrough).toEqual([]);
    const chart = await inspectRedis(cluster, await redisAdmin(cluster), plain.session);
    expect(chart.keys).toEqual(
      expect.arrayContaining([
        `${SEED.prefix}:session:${plain.session}`,
        `${SEED.prefix}:events:${plain.session}`,
      ]),
    );
    expect(chart.events.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: plain.message }),
    ]);
  });

  it('step 6: after `kubectl delete pod`, each replacement reads its own history back', async () => {
    const [explicitOld, plainOld] = [podOf('explicit'), podOf('plain')];
    const [explicitNew, plainNew] = await Promise.all([
      recycle(cluster, ns, explicitOld, explicit),
      recycle(cluster, ns, plainOld, plain),
    ]);
    for (const [old, pod] of [
      [explicitOld, explicitNew],
      [plainOld, plainNew],
    ] as const) {
      expect(pod.metadata.uid).not.toBe(old.metadata.uid);
      await kubectl('-n', ns, 'wait', '--for=delete', `pod/${old.metadata.name}`, '--timeout=60s');
    }
    // The replacement is injected the same way: still following the agent's URL.
    expect(readStatus(explicitNew.metadata.annotations)?.redis).toEqual({ from: SEED.container });
    expect(readStatus(plainNew.metadata.annotations)?.redis).toBeUndefined();

    const mine = await readBack(cluster, ns, explicitNew, explicit);
    expect(mine.agent).toBe(explicit.agent);
    expect(mine.events).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: explicit.message }),
    ]);
    const theirs = await readBack(cluster, ns, plainNew, plain);
    expect(theirs.agent).toBe(plain.agent);
    expect(theirs.events).toEqual([
      expect.objectContaining({ event_type: 'user_message', content: plain.message }),
    ]);
    // Neither sidecar knows the other's session: each reads from its own Redis.
    const lookUp = (pod: PodJson, other: AgentSpec) =>
      inAgent(
        cluster,
        ns,
        pod,
        `wget -q -O- "$MEMORY_API_URL/v1/sessions/${other.session}" 2>&1; echo " exit=$?"`,
      );
    expect(await lookUp(explicitNew, plain)).toMatch(/404 Not Found\n exit=1/);
    expect(await lookUp(plainNew, explicit)).toMatch(/404 Not Found\n exit=1/);
    expect(await lookUp(explicitNew, explicit)).toContain(' exit=0');
  });
});
