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
export const REDIS_ADMIN_SECRET = `${RELEASE}-redis-admin`;
export const REDIS_ADMIN_USER = 'kaos-admin';

/**
 * An agent as the KAOS operator deploys it: the label value, the env its Agent resource
 * gives the container (`kaos agent deploy --env`), and the conversation the test has with it.
 */
export interface AgentSpec {
  agent: string;
  env?: { name: string; value: string }[];
  /** The agent container's image: busybox unless the test needs more (e.g. node's fetch). */
  image?: string;
  session: string;
  message: string;
}

/** The seed notebook's agent: the operator's Deployment, nothing about memory. */
export const SEED_AGENT: AgentSpec = {
  agent: SEED.agent,
  session: SEED.session,
  message: SEED.message,
};

/** The operator's names for an agent: Deployment `agent-<name>`, label `agent=<name>`. */
export function agentNames(agent: AgentSpec): { deployment: string; selector: string } {
  return { deployment: `agent-${agent.agent}`, selector: `agent=${agent.agent}` };
}

/** The agent Deployment as the KAOS operator creates it: a label, and the agent's own env. */
export function agentDeployment(namespace: string, agent: AgentSpec = SEED_AGENT): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: agentNames(agent).deployment,
      namespace,
      labels: { agent: agent.agent },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { agent: agent.agent } },
      template: {
        metadata: { labels: { agent: agent.agent } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: SEED.container,
              image: agent.image ?? IMAGE_NAMES.busybox(),
              imagePullPolicy: 'IfNotPresent',
              command: ['sleep', '3600'],
              ...(agent.env && agent.env.length > 0 ? { env: agent.env } : {}),
            },
          ],
        },
      },
    },
  };
}

/**
 * Waits for the one live pod of the agent (other than `notUid`) to run with the agent and
 * its sidecar Ready; resolves with it. Rejects at the deadline with what it last saw.
 */
export async function readyAgentPod(
  cluster: NodeCluster,
  namespace: string,
  options: { agent?: AgentSpec; notUid?: string; timeoutMs?: number } = {},
): Promise<PodJson> {
  const { agent = SEED_AGENT, notUid, timeoutMs = 180_000 } = options;
  const { selector } = agentNames(agent);
  let found: PodJson | undefined;
  let seen = 'no pod yet';
  await pollUntil(
    `the ${selector} pod${notUid ? ' that replaces the deleted one' : ''} to be Ready`,
    async () => {
      const pods = (await livePods(cluster, namespace, selector)).filter(
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
export async function deployAgent(
  cluster: NodeCluster,
  namespace: string,
  agent: AgentSpec = SEED_AGENT,
): Promise<PodJson> {
  await cluster.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(agentDeployment(namespace, agent)),
  });
  return readyAgentPod(cluster, namespace, { agent });
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

/** The agent's POST of its message to the session, through $MEMORY_API_URL (busybox wget). */
export function writeCommand(agent: AgentSpec = SEED_AGENT): string {
  const body = JSON.stringify({ event_type: 'user_message', content: agent.message });
  return `wget -q -O- --header 'Content-Type: application/json' --post-data '${body}' "$MEMORY_API_URL/v1/sessions/${agent.session}/events"`;
}

/** The agent's GET of the session's events, through $MEMORY_API_URL. */
export function readCommand(agent: AgentSpec = SEED_AGENT): string {
  return `wget -q -O- "$MEMORY_API_URL/v1/sessions/${agent.session}/events"`;
}

export const WRITE_COMMAND = writeCommand();

export const READ_COMMAND = readCommand();

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
  agent: AgentSpec = SEED_AGENT,
): Promise<{ stored?: number; events?: StoredEvent[] }> {
  return JSON.parse(await inAgent(cluster, namespace, pod, writeCommand(agent))) as {
    stored?: number;
    events?: StoredEvent[];
  };
}

/** The agent reads the session's events back through $MEMORY_API_URL. */
export async function readBack(
  cluster: NodeCluster,
  namespace: string,
  pod: PodJson,
  agent: AgentSpec = SEED_AGENT,
): Promise<{ agent?: string; events: StoredEvent[] }> {
  const body = JSON.parse(await inAgent(cluster, namespace, pod, readCommand(agent))) as {
    agent?: string;
    events?: StoredEvent[];
  };
  return { ...body, events: body.events ?? [] };
}

/**
 * Who `redis-cli` authenticates as: a password alone is the `default` user, the memory
 * user agents get (docs/adr/0034-least-privilege.md), which may not run KEYS or CONFIG;
 * looking inside Redis as an operator does takes the admin user.
 */
export type RedisCredential = string | { user: string; password: string };

/** The bundled Redis's password, from the Secret the chart made. */
export async function redisPassword(cluster: NodeCluster): Promise<string> {
  return secretValue(cluster, REDIS_SECRET, 'redis-password');
}

/** The bundled Redis's admin user (`kaos-admin`), its password from the chart's Secret. */
export async function redisAdmin(cluster: NodeCluster): Promise<RedisCredential> {
  return {
    user: REDIS_ADMIN_USER,
    password: await secretValue(cluster, REDIS_ADMIN_SECRET, 'admin-password'),
  };
}

async function secretValue(cluster: NodeCluster, name: string, key: string): Promise<string> {
  const secret = await getJson<{ data: Record<string, string> }>(
    cluster,
    '-n',
    RELEASE_NS,
    'get',
    'secret',
    name,
  );
  const value = secret.data[key];
  if (!value) throw new Error(`Secret ${RELEASE_NS}/${name} has no ${key}`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/** `redis-cli` in the bundled Redis pod, authenticated; resolves with its lines. */
export async function redisCli(
  cluster: NodeCluster,
  credential: RedisCredential,
  ...args: string[]
): Promise<string[]> {
  const { user, password } =
    typeof credential === 'string' ? { user: undefined, password: credential } : credential;
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
    ...(user !== undefined ? ['--user', user] : []),
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
export async function inspectRedis(
  cluster: NodeCluster,
  credential: RedisCredential,
  session: string = SEED.session,
): Promise<RedisView> {
  const eventsKey = `${SEED.prefix}:events:${session}`;
  const keys = (await redisCli(cluster, credential, 'KEYS', `${SEED.prefix}:*`)).sort();
  const events = await redisCli(cluster, credential, 'LRANGE', eventsKey, '0', '-1');
  return { keys, eventsKey, events };
}

/** `kubectl delete pods -l agent=…`; resolves with the replacement pod once Ready. */
export async function recycle(
  cluster: NodeCluster,
  namespace: string,
  old: PodJson,
  agent: AgentSpec = SEED_AGENT,
): Promise<PodJson> {
  const { selector } = agentNames(agent);
  await cluster.kubectl(['-n', namespace, 'delete', 'pods', '-l', selector, '--wait=false']);
  return readyAgentPod(cluster, namespace, { agent, notUid: old.metadata.uid });
}

// The walkthrough's explicit setup (KAOS's redis-memory walkthrough, steps 1 and 3): a
// Redis of the agent's own in its namespace, and an agent told about it by its env.

/** The walkthrough's Redis: Deployment and Service `redis`, port 6379, no password. */
export const WALKTHROUGH_REDIS = 'redis';

/** The URL the walkthrough's step 3 gives its agent: the Redis in its own namespace. */
export function walkthroughRedisUrl(namespace: string): string {
  return `redis://${WALKTHROUGH_REDIS}.${namespace}.svc.cluster.local:6379`;
}

/**
 * The walkthrough's step 1, as written but for the image: `redis:7-alpine` cannot be
 * pulled here, so the harness's own redis-server image; the official image turns off
 * protected mode (no password, reached over the pod network), hence the flag.
 */
export function walkthroughRedis(namespace: string): object[] {
  const labels = { app: WALKTHROUGH_REDIS };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: WALKTHROUGH_REDIS, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'redis',
                image: IMAGE_NAMES.redis(),
                imagePullPolicy: 'IfNotPresent',
                command: ['redis-server', '--protected-mode', 'no'],
                ports: [{ containerPort: 6379 }],
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: WALKTHROUGH_REDIS, namespace },
      spec: { selector: labels, ports: [{ port: 6379, targetPort: 6379 }] },
    },
  ];
}

/** Step 1: `kubectl apply` of the Redis, then `kubectl wait --for=condition=available`. */
export async function deployWalkthroughRedis(
  cluster: NodeCluster,
  namespace: string,
): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: walkthroughRedis(namespace) }),
  });
  await cluster.kubectl(
    [
      '-n',
      namespace,
      'wait',
      '--for=condition=available',
      `deployment/${WALKTHROUGH_REDIS}`,
      '--timeout=120s',
    ],
    { timeoutMs: 130_000 },
  );
}

/** Step 5's `kubectl exec deploy/redis -- redis-cli …`; resolves with its lines. */
export async function walkthroughRedisCli(
  cluster: NodeCluster,
  namespace: string,
  ...args: string[]
): Promise<string[]> {
  const out = await cluster.kubectl([
    '-n',
    namespace,
    'exec',
    `deploy/${WALKTHROUGH_REDIS}`,
    '--',
    'redis-cli',
    ...args,
  ]);
  return out.split('\n').filter(Boolean);
}
