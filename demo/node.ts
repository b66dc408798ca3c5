// The demo's story on a real node: the chart installed by helm with its defaults, then
// the seed notebook played with real kubectl (harness/node/seed.ts, which
// test/node/seed.test.ts plays too). Every claim printed is checked on the way.
import { spawnSync } from 'node:child_process';
import { dumpYaml } from '@kubernetes/client-node';
import { NodeCluster } from '../harness/node/cluster.js';
import {
  containerStatus,
  getJson,
  installChart,
  removeRelease,
  RELEASE,
  RELEASE_NS,
  type PodJson,
} from '../harness/node/release.js';
import {
  agentDeployment,
  deployAgent,
  inspectRedis,
  readBack,
  recycle,
  REDIS_ADMIN_SECRET,
  REDIS_ADMIN_USER,
  REDIS_POD,
  redisAdmin,
  redisCli,
  redisPassword,
  SEED,
  STATUS_ANNOTATION,
  writeMessage,
  WRITE_COMMAND,
  READ_COMMAND,
} from '../harness/node/seed.js';
import { bin } from '../harness/node/paths.js';
import { teardown as teardownNode } from '../harness/node/teardown.js';
import type { Proofs } from './proofs.js';
import type { StoryContext } from './story.js';
import type { Teardown } from './teardown.js';
import * as ui from './ui.js';

interface PodSpecJson {
  spec: {
    initContainers?: {
      name: string;
      restartPolicy?: string;
      env?: { name: string; value?: string }[];
    }[];
    containers: { name: string; env?: { name: string; value?: string }[] }[];
    volumes?: { name: string; secret?: { secretName: string } }[];
  };
}

export async function nodeStory({ step, teardown, proofs }: StoryContext): Promise<void> {
  ui.title(
    'kaos-memory demo: an agent remembers across a pod restart, on a real node',
    'All real, all local: a single-node Kubernetes (kubelet, containerd), helm, kubectl.',
  );
  const cluster = onRunningNode
    ? await step('setup-1', 'Setup 1/2', 'Use the single-node cluster running here', () =>
        useRunningNode(),
      )
    : await step('setup-1', 'Setup 1/2', 'Start a real single-node cluster', () =>
        startNode(teardown),
      );
  await step('setup-2', 'Setup 2/2', `helm install ${RELEASE} charts/kaos-memory`, () =>
    install(cluster, proofs, teardown),
  );
  const ns = await cluster.namespace('agents');
  if (onRunningNode) {
    teardown.add(
      `namespace ${ns}`,
      cluster,
      (c) => c.kubectl(['delete', 'namespace', ns, '--wait=false']),
      (c) => kubectlNow(c, ['delete', 'namespace', ns, '--wait=false']),
    );
  }
  ui.say(`namespace for the agent: ${ns}`);

  const first = await step(
    '1',
    'Step 1/5',
    `Create the agent Deployment ${SEED.deployment} labelled agent=${SEED.agent}`,
    () => createAgent(cluster, ns, proofs),
  );
  await step('2', 'Step 2/5', 'The agent remembers through $MEMORY_API_URL', () =>
    remember(cluster, ns, first, proofs),
  );
  await step('3', 'Step 3/5', 'Look inside Redis', () => lookInside(cluster, proofs));
  await step('4', 'Step 4/5', 'Delete the pod and read the history back from its replacement', () =>
    replace(cluster, ns, first, proofs),
  );
  await step('5', 'Step 5/5', 'What was proven', () => proofs.summary());
}

async function startNode(teardown: Teardown): Promise<NodeCluster> {
  const cluster = await ui.progress(
    'starting etcd, kube-apiserver, the kubelet on containerd, kube-proxy, CoreDNS',
    () => NodeCluster.start({ log: (line) => ui.note(line) }),
    (c) => `node ${c.nodeName} Ready at ${c.server}`,
  );
  teardown.add(
    'node',
    cluster,
    (c) => c.stop(),
    (c) => teardownNode(c.dir, { graceMs: 1_000 }),
  );
  const t = cluster.timings;
  ui.say(
    `images in containerd after ${ui.seconds(t.images)}, kube-apiserver ready after ` +
      `${ui.seconds(t.apiserver)}, node Ready after ${ui.seconds(t.nodeReady)}`,
  );
  ui.say(`kubeconfig: ${cluster.kubeconfigPath}`);
  return cluster;
}

/**
 * KAOS_DEMO_NODE=running: the story is played on the node already running on this machine
 * (`harness/node/cli.ts up`, or a test run's), which keeps running; the demo removes only
 * what it added (its release and namespaces).
 */
const onRunningNode = process.env.KAOS_DEMO_NODE === 'running';

async function useRunningNode(): Promise<NodeCluster> {
  const cluster = NodeCluster.attach();
  const ready = await cluster.kubectl([
    'get',
    'node',
    cluster.nodeName,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  ]);
  if (ready !== 'True') throw new Error(`node ${cluster.nodeName} is not Ready (${ready})`);
  ui.ok(`node ${cluster.nodeName} Ready at ${cluster.server}, already running (it stays running)`);
  ui.say(`kubeconfig: ${cluster.kubeconfigPath}`);
  return cluster;
}

/** For process exit, where nothing can be awaited. */
function kubectlNow(cluster: NodeCluster, args: string[]): void {
  spawnSync(bin('kubectl'), ['--kubeconfig', cluster.kubeconfigPath, ...args], { timeout: 5_000 });
}

async function install(cluster: NodeCluster, proofs: Proofs, teardown: Teardown): Promise<void> {
  if (onRunningNode) {
    // Someone else's release is never the demo's to remove.
    const present = await cluster.kubectl([
      'get',
      'namespace',
      RELEASE_NS,
      '--ignore-not-found',
      '-o',
      'name',
    ]);
    if (present) {
      throw new Error(
        `the running node already has namespace ${RELEASE_NS}: helm uninstall ${RELEASE} -n ${RELEASE_NS} and delete it first`,
      );
    }
    // Gone, not going, when the demo ends, so the next `npm run demo` here can start at
    // once: its pods stop first (the webhook drains for 5 s), then the namespace goes.
    teardown.add(
      `release ${RELEASE}`,
      cluster,
      (c) => removeRelease(c, true),
      (c) =>
        kubectlNow(c, ['delete', 'namespace', RELEASE_NS, '--ignore-not-found', '--wait=false']),
      60_000,
    );
  }
  ui.say(`$ helm install ${RELEASE} charts/kaos-memory --namespace ${RELEASE_NS} --wait`);
  ui.say('(no values: the defaults bring the webhook and a Redis of its own)');
  await ui.progress(
    'helm install --wait',
    () => installChart(cluster),
    (s) => `release ${RELEASE} installed and Ready in ${ui.seconds(s * 1000)}`,
  );
  ui.say(`$ kubectl -n ${RELEASE_NS} get deployments,statefulsets,pvc`);
  ui.block(
    await cluster.kubectl(['-n', RELEASE_NS, 'get', 'deployments,statefulsets,pvc', '-o', 'wide']),
  );
  const ready = async (kind: string, name: string) =>
    (
      await getJson<{ status: { readyReplicas?: number } }>(
        cluster,
        '-n',
        RELEASE_NS,
        'get',
        kind,
        name,
      )
    ).status.readyReplicas ?? 0;
  const webhooks = await ready('deployment', `${RELEASE}-webhook`);
  proofs.check('chart', 'both webhook replicas are Ready', webhooks === 2, String(webhooks));
  const mwc = await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(
    cluster,
    'get',
    'mutatingwebhookconfiguration',
    RELEASE,
  );
  proofs.check(
    'chart',
    'the webhook made its own certificate and put its CA in the MutatingWebhookConfiguration',
    Boolean(mwc.webhooks[0]?.clientConfig.caBundle),
  );
  const redis = await ready('statefulset', `${RELEASE}-redis`);
  proofs.check('chart', `the bundled Redis ${REDIS_POD} is Ready`, redis === 1, String(redis));
}

async function createAgent(cluster: NodeCluster, ns: string, proofs: Proofs): Promise<PodJson> {
  ui.say('the Deployment as the KAOS operator writes it (nothing about memory in it):');
  ui.block(dumpYaml(agentDeployment(ns)));
  ui.say(`$ kubectl apply -f deployment.yaml && kubectl -n ${ns} get pods -l ${SEED.selector}`);
  const pod = await ui.progress(
    'waiting for the pod to run with its containers Ready',
    () => deployAgent(cluster, ns),
    (p) => `pod ${p.metadata.name} Running, uid ${p.metadata.uid}`,
  );
  const stored = await getJson<PodSpecJson>(cluster, '-n', ns, 'get', 'pod', pod.metadata.name);
  const sidecar = stored.spec.initContainers?.find((c) => c.name === SEED.sidecar);
  const agentEnv = stored.spec.containers.find((c) => c.name === SEED.container)?.env ?? [];
  ui.say('the pod as stored (what the webhook added):');
  ui.block(
    [
      `${STATUS_ANNOTATION}: ${pod.metadata.annotations?.[STATUS_ANNOTATION]}`,
      `initContainers: [${stored.spec.initContainers?.map((c) => `${c.name} (restartPolicy ${c.restartPolicy})`).join(', ')}]`,
      `agent env: ${agentEnv.map((e) => `${e.name}=${e.value ?? '(from a reference)'}`).join(', ')}`,
    ].join('\n'),
  );
  proofs.check(
    'inject',
    `the pod is marked ${STATUS_ANNOTATION}: injected`,
    pod.metadata.annotations?.[STATUS_ANNOTATION] === 'injected',
  );
  proofs.check(
    'inject',
    `${SEED.sidecar} is a native sidecar (an init container with restartPolicy Always)`,
    sidecar?.restartPolicy === 'Always',
    JSON.stringify(stored.spec.initContainers),
  );
  proofs.check(
    'inject',
    'the agent got MEMORY_TYPE, MEMORY_REDIS_URL and MEMORY_API_URL',
    ['MEMORY_TYPE', 'MEMORY_REDIS_URL', 'MEMORY_API_URL'].every((name) =>
      agentEnv.some((e) => e.name === name),
    ),
    JSON.stringify(agentEnv),
  );
  proofs.check(
    'inject',
    'the pod is Running with the agent and the sidecar Ready',
    pod.status.phase === 'Running' &&
      containerStatus(pod, SEED.sidecar)?.ready === true &&
      containerStatus(pod, SEED.container)?.ready === true,
  );
  const secretVolume = stored.spec.volumes?.find((v) => v.secret)?.secret?.secretName;
  const passwordFile = sidecar?.env?.find((e) => e.name === 'MEMORY_REDIS_PASSWORD_FILE')?.value;
  ui.say(`the sidecar reads the password from ${passwordFile}, a volume of Secret ${secretVolume}`);
  proofs.check(
    'secret',
    `the sidecar reads the Redis password from a file of the Secret ${RELEASE}-redis`,
    secretVolume === `${RELEASE}-redis` && passwordFile !== undefined,
    JSON.stringify({ volumes: stored.spec.volumes, env: sidecar?.env }),
  );
  const password = await redisPassword(cluster);
  proofs.check(
    'secret',
    'the Redis password appears nowhere in the stored pod',
    !JSON.stringify(stored).includes(password),
  );
  return pod;
}

async function remember(
  cluster: NodeCluster,
  ns: string,
  pod: PodJson,
  proofs: Proofs,
): Promise<void> {
  ui.say(`$ kubectl -n ${ns} exec ${pod.metadata.name} -c ${SEED.container} -- sh -c '…'`);
  ui.block(WRITE_COMMAND);
  const answer = await writeMessage(cluster, ns, pod);
  ui.say(`→ stored ${answer.stored}, event_id ${answer.events?.[0]?.event_id}`);
  proofs.check(
    'stored',
    'the sidecar acknowledged the user_message (stored: Redis has it)',
    answer.stored === 1,
    JSON.stringify(answer),
  );
}

async function lookInside(cluster: NodeCluster, proofs: Proofs): Promise<void> {
  // The admin user: the memory user agents hold may not run KEYS or CONFIG (ADR 0034).
  const admin = await redisAdmin(cluster);
  const view = await inspectRedis(cluster, admin);
  const cli = `kubectl -n ${RELEASE_NS} exec ${REDIS_POD} -c redis -- redis-cli --user ${REDIS_ADMIN_USER}`;
  ui.say(`$ ${cli} KEYS '${SEED.prefix}:*'   (REDISCLI_AUTH from Secret ${REDIS_ADMIN_SECRET})`);
  ui.block(view.keys.join('\n'));
  proofs.check(
    'stored',
    `the session's keys: ${SEED.prefix}:session:${SEED.session} and ${view.eventsKey}`,
    view.keys.includes(`${SEED.prefix}:session:${SEED.session}`) &&
      view.keys.includes(view.eventsKey),
    view.keys.join(', '),
  );
  ui.say(`$ ${cli} LRANGE ${view.eventsKey} 0 -1`);
  ui.block(view.events.map((line, i) => `${i + 1}) ${line}`).join('\n'));
  const events = view.events.map((line) => JSON.parse(line) as Record<string, unknown>);
  proofs.check(
    'stored',
    'the list holds the user_message as KAOS RedisMemory stores it',
    events.length === 1 &&
      events[0]?.event_type === 'user_message' &&
      events[0]?.content === SEED.message &&
      Object.keys(events[0] ?? {}).join() === 'event_id,timestamp,event_type,content,metadata',
    view.events.join('\n'),
  );

  const [, appendonly] = await redisCli(cluster, admin, 'CONFIG', 'GET', 'appendonly');
  ui.say(`$ ${cli} CONFIG GET appendonly → ${appendonly}`);
  proofs.check('durable', 'Redis writes an append-only file', appendonly === 'yes', appendonly);
  const pvcs = await getJson<{
    items: { metadata: { name: string }; status: { phase: string } }[];
  }>(cluster, '-n', RELEASE_NS, 'get', 'pvc');
  ui.say(
    `its data folder is on ${pvcs.items.map((p) => `${p.metadata.name} (${p.status.phase})`).join(', ')}`,
  );
  proofs.check(
    'durable',
    "Redis's data folder is a bound PersistentVolumeClaim",
    pvcs.items.length === 1 && pvcs.items[0]?.status.phase === 'Bound',
    JSON.stringify(pvcs.items),
  );
}

async function replace(
  cluster: NodeCluster,
  ns: string,
  old: PodJson,
  proofs: Proofs,
): Promise<void> {
  ui.say(`$ kubectl -n ${ns} delete pods -l ${SEED.selector} --wait=false`);
  const pod = await ui.progress(
    'waiting for the Deployment to replace it and for the new pod to be Ready',
    () => recycle(cluster, ns, old),
    (p) => `pod ${p.metadata.name} Running, uid ${p.metadata.uid}`,
  );
  proofs.check(
    'restart',
    `a new pod replaced ${old.metadata.name} (a different uid), injected again`,
    pod.metadata.uid !== old.metadata.uid &&
      pod.metadata.annotations?.[STATUS_ANNOTATION] === 'injected',
  );
  ui.say(`$ kubectl -n ${ns} exec ${pod.metadata.name} -c ${SEED.container} -- sh -c '…'`);
  ui.block(READ_COMMAND);
  const history = await readBack(cluster, ns, pod);
  ui.say(`→ agent "${history.agent}", ${history.events.length} event(s):`);
  ui.block(history.events.map((e) => `${e.event_type}: ${JSON.stringify(e.content)}`).join('\n'));
  proofs.check(
    'restart',
    `the new pod's sidecar reads back the user_message "${SEED.message}"`,
    history.events.length === 1 &&
      history.events[0]?.event_type === 'user_message' &&
      history.events[0]?.content === SEED.message,
    JSON.stringify(history),
  );
}
