// The seed notebook on a real node, step by step with real kubectl, after `helm install`
// of the chart as it ships (default values): the webhook replicas and the bundled Redis
// as installed, then the operator's agent Deployment injected, a message written through
// the sidecar, seen inside Redis, and read back through the sidecar of the pod that
// replaced a deleted one. One node start and one install for all of it (each costs a
// minute or two of CI).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCluster, unavailableReason } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import {
  containerStatus,
  execIn,
  getJson,
  installChart,
  RELEASE,
  RELEASE_NS,
  type PodJson,
} from '../../harness/node/release.js';
import {
  deployAgent,
  inspectRedis,
  readBack,
  recycle,
  redisPassword,
  SEED,
  STATUS_ANNOTATION,
  writeMessage,
} from '../../harness/node/seed.js';

interface Deployment {
  spec: { template: { spec: { containers: { image: string }[] } } };
  status: { readyReplicas?: number };
}

describe('the seed notebook on a real node, default install', () => {
  let cluster: NodeCluster;
  let ns: string;
  let first: PodJson;
  const kubectl = (...args: string[]) => cluster.kubectl(args);

  beforeAll(async () => {
    const reason = unavailableReason();
    if (reason) throw new Error(reason);
    cluster = await NodeCluster.start({ log: (line) => console.log(`node: ${line}`) });
    await installChart(cluster, [], (line) => console.log(`node: ${line}`));
    ns = await cluster.namespace('agents');
  }, 900_000);

  afterAll(async () => {
    await cluster?.stop();
    expect(cluster?.leftovers() ?? []).toEqual([]);
  }, 60_000);

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

    const redis = await inspectRedis(cluster, await redisPassword(cluster));
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
