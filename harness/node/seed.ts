// The seed notebook's story, played with real kubectl on a real node after a default
// `helm install`: the agent Deployment the KAOS operator would create, one message
// written through the injected sidecar, a look inside the bundled Redis, the pod
// deleted and replaced, and the history read back through the new pod's sidecar.
// test/node/seed.test.ts and `npm run demo` both play it from here, so what the demo
// shows is what the test checks.
import { pollUntil } from '../poll.js';
import type { NodeCluster } from './cluster.js';
import { IMAGE_NAMES } from './images.js';
import { containerStatus, execIn, getJson, livePods, RELEASE, RELEASE_NS } from './release.js';
import type { PodJson } from './release.js';

export const SEED = {
  agent: 'memory-agent',
  /** The operator names an agent's Deployment `agent-<name>` and labels it `agent=<name>`. */
  deployment: 'agent-memory-agent',
  selector: 'agent=memory-agent',
  container: 'agent',
  sidecar: 'kaos-memory',
  session: 'conversation-1',
  message: 'Remember this: the secret code is 42',
  prefix: 'kaos:memory',
} as const;

export const STATUS_ANNOTATION = 'memory.kaos.tools/status';
export const REDIS_POD = `${RELEASE}-redis-0`;
export const REDIS_SECRET = `${RELEASE}-redis`;

/** The agent Deployment as the KAOS operator creates it: a label, nothing about memory. */
export function agentDeployment(namespace: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: SEED.deployment, namespace, labels: { agent: SEED.agent } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { agent: SEED.agent } },
      template: {
        metadata: { labels: { agent: SEED.agent } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: SEED.container,
              image: IMAGE_NAMES.busybox(),
              imagePullPolicy: 'IfNotPresent',
              command: ['sleep', '3600'],
            },
          ],
        },
      },
    },
  };
}

/**
 * Waits for the one live agent pod (other than `notUid`) to run with the agent and its
 * sidecar Ready; resolves with it. Rejects at the deadline with what it last saw.
 */
export async function readyAgentPod(
  cluster: NodeCluster,
  namespace: string,
  notUid?: string,
  timeoutMs = 180_000,
): Promise<PodJson> {
  let found: PodJson | undefined;
  let seen = 'no pod yet';
  await pollUntil(
    `the ${SEED.selector} pod${notUid ? ' that replaces the deleted one' : ''} to be Ready`,
    async () => {
      const pods = (await livePods(cluster, namespace, SEED.selector)).filter(
        (pod) => pod.metadata.uid !== notUid,
      );
      seen = JSON.stringify(pods.map((pod) => ({ name: pod.metadata.name, ...pod.status })));
      const pod = pods.length === 1 ? pods[0] : undefined;
      const ready = (name: string) => (pod && containerStatus(pod, name)?.ready) === true;
      if (!pod || pod.status.phase !== 'Running' || !ready(SEED.sidecar) || !ready(SEED.container))
        return false;
      found = pod;
      return true;
    },
    { timeoutMs, intervalMs: 1_000 },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen: ${seen}`, {
      cause: err,
    });
  });
  return found!;
}

/** `kubectl apply` of the Deployment; resolves with its pod once Ready. */
export async function deployAgent(cluster: NodeCluster, namespace: string): Promise<PodJson> {
  await cluster.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(agentDeployment(namespace)),
  });
  return readyAgentPod(cluster, namespace);
}

/** A shell command in the agent's container: what the agent does, with busybox. */
export function inAgent(
  cluster: NodeCluster,
  namespace: string,
  pod: PodJson,
  command: string,
): Promise<string> {
  return execIn(cluster, namespace, pod.metadata.name, SEED.container, command);
}

export const WRITE_COMMAND = `wget -q -O- --header 'Content-Type: application/json' --post-data '${JSON.stringify(
  { event_type: 'user_message', content: SEED.message },
)}' "$MEMORY_API_URL/v1/sessions/${SEED.session}/events"`;

export const READ_COMMAND = `wget -q -O- "$MEMORY_API_URL/v1/sessions/${SEED.session}/events"`;

export interface StoredEvent {
  event_id?: string;
  event_type: string;
  content: unknown;
}

/** The agent POSTs the message through $MEMORY_API_URL; resolves with the sidecar's answer. */
export async function writeMessage(
  cluster: NodeCluster,
  namespace: string,
  pod: PodJson,
): Promise<{ stored?: number; events?: StoredEvent[] }> {
  return JSON.parse(await inAgent(cluster, namespace, pod, WRITE_COMMAND)) as {
    stored?: number;
    events?: StoredEvent[];
  };
}

/** The agent reads the session's events back through $MEMORY_API_URL. */
export async function readBack(
  cluster: NodeCluster,
  namespace: string,
  pod: PodJson,
): Promise<{ agent?: string; events: StoredEvent[] }> {
  const body = JSON.parse(await inAgent(cluster, namespace, pod, READ_COMMAND)) as {
    agent?: string;
    events?: StoredEvent[];
  };
  return { ...body, events: body.events ?? [] };
}

/** The bundled Redis's password, from the Secret the chart made. */
export async function redisPassword(cluster: NodeCluster): Promise<string> {
  const secret = await getJson<{ data: Record<string, string> }>(
    cluster,
    '-n',
    RELEASE_NS,
    'get',
    'secret',
    REDIS_SECRET,
  );
  const value = secret.data['redis-password'];
  if (!value) throw new Error(`Secret ${RELEASE_NS}/${REDIS_SECRET} has no redis-password`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/** `redis-cli` in the bundled Redis pod, authenticated; resolves with its lines. */
export async function redisCli(
  cluster: NodeCluster,
  password: string,
  ...args: string[]
): Promise<string[]> {
  const out = await cluster.kubectl([
    '-n',
    RELEASE_NS,
    'exec',
    REDIS_POD,
    '-c',
    'redis',
    '--',
    'env',
    `REDISCLI_AUTH=${password}`,
    'redis-cli',
    '--no-auth-warning',
    ...args,
  ]);
  return out.split('\n').filter(Boolean);
}

export interface RedisView {
  /** KEYS kaos:memory:*, sorted. */
  keys: string[];
  eventsKey: string;
  /** LRANGE of the session's events list, as stored (KAOS's JSON form). */
  events: string[];
}

/** What `kubectl exec` into the Redis pod shows: the keys and the session's stored events. */
export async function inspectRedis(cluster: NodeCluster, password: string): Promise<RedisView> {
  const eventsKey = `${SEED.prefix}:events:${SEED.session}`;
  const keys = (await redisCli(cluster, password, 'KEYS', `${SEED.prefix}:*`)).sort();
  const events = await redisCli(cluster, password, 'LRANGE', eventsKey, '0', '-1');
  return { keys, eventsKey, events };
}

/** `kubectl delete pods -l agent=…`; resolves with the replacement pod once Ready. */
export async function recycle(
  cluster: NodeCluster,
  namespace: string,
  old: PodJson,
): Promise<PodJson> {
  await cluster.kubectl(['-n', namespace, 'delete', 'pods', '-l', SEED.selector, '--wait=false']);
  return readyAgentPod(cluster, namespace, old.metadata.uid);
}
