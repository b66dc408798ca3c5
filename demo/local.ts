// The demo's fallback story, where no real node can run: Redis with an append-only
// file, etcd and kube-apiserver, the chart installed by helm, the webhook and the
// sidecar as local processes started from the specs the API server stored, and a
// SIGKILL of the sidecar standing in for a pod restart.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from '../harness/kube.js';
import { freePort } from '../harness/ports.js';
import { RedisServer } from '../harness/redis.js';
import { waitUntilInjecting, WebhookProcess } from '../harness/webhook.js';
import {
  AGENT_LABEL,
  agentPod,
  container,
  createAndReadBack,
  injectedView,
  isNativeSidecar,
  readPod,
  renderEnv,
  metricsPort,
  SIDECAR,
  sidecarPort,
  RECORD_ANNOTATION,
  STATUS_ANNOTATION,
} from './agent.js';
import { ContainerProcess } from '../harness/container.js';
import { appendOnlyFiles, keysUnder } from './inspect.js';
import { CHART_DIR, helmInstall, RELEASE, valuesYaml, webhookDeployment } from './platform.js';
import { readStatus } from '../webhook/status.js';
import { SIDECAR_METRICS_PORT } from '../lib/contract.js';
import { message, type StoryContext } from './story.js';
import * as ui from './ui.js';

const SESSION = 'conversation-1';
const USER_MESSAGE = 'Remember this: the secret code is 42';
const AGENT_REPLY = 'Noted: the secret code is 42. I will remember it.';
const SECRET = { name: 'redis-auth', key: 'password' };
const PREFIX = 'kaos:memory';

/** The fallback, where no real node can run: the webhook and the sidecar as local processes. */
export async function localStory(ctx: StoryContext, reason: string): Promise<void> {
  const { step, teardown, proofs } = ctx;
  ui.title(
    'kaos-memory demo: an agent remembers across a pod restart',
    'All real, all local: redis-server, etcd + kube-apiserver, helm, the webhook, the sidecar.',
  );
  ui.warn(`no real node: ${reason}; the webhook and the sidecar run as local processes`);
  const work = teardown.add(
    'temporary files',
    mkdtempSync(join(tmpdir(), 'kaos-demo-')),
    (dir) => rmSync(dir, { recursive: true, force: true }),
    (dir) => rmSync(dir, { recursive: true, force: true }),
  );
  const password = randomBytes(16).toString('hex');

  const redis = await step('setup-1', 'Setup 1/4', 'Start Redis with an append-only file', () =>
    startRedis(ctx, password),
  );
  const cluster = await step('setup-2', 'Setup 2/4', 'Start the Kubernetes control plane', () =>
    startCluster(ctx),
  );
  const ns = { release: await cluster.namespace('kaos-system'), agents: '' };
  ns.agents = await cluster.namespace('agents');
  ui.say(`namespaces: ${ns.release} (the release), ${ns.agents} (the agents)`);

  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const webhookPort = await step('setup-3', 'Setup 3/4', `helm install ${CHART_DIR}`, () =>
    installChart(ctx, cluster, ns, redisUrl, password, work),
  );
  await step('setup-4', 'Setup 4/4', 'Run the webhook as the installed Deployment would', () =>
    runWebhook(ctx, cluster, ns, redisUrl, webhookPort, work),
  );

  const pod = await step('1', 'Step 1/5', `Create an agent pod labelled agent=${AGENT_LABEL}`, () =>
    createAgent(ctx, cluster, ns.agents, password),
  );
  const sidecar: { proc?: ContainerProcess } = {};
  teardown.add(
    'sidecar',
    sidecar,
    async (s) => s.proc?.stop(),
    (s) => s.proc?.killNow(),
  );
  const api = await step('2', 'Step 2/5', 'Start the sidecar from the pod spec and remember', () =>
    remember(ctx, cluster, pod, sidecar, password),
  );
  await step('3', 'Step 3/5', 'Look inside Redis', () => inspectRedis(ctx, redis));
  await step('4', 'Step 4/5', 'Kill the sidecar (a pod restart) and read the history back', () =>
    restart(ctx, cluster, pod, sidecar, api),
  );
  await step('5', 'Step 5/5', 'What was proven', () => proofs.summary());
}

async function startRedis(ctx: StoryContext, password: string): Promise<RedisServer> {
  const redis = await ui.progress(
    'starting redis-server',
    () => RedisServer.start({ aof: true, password }),
    (r) => `redis-server on 127.0.0.1:${r.port}, data in ${r.dir}`,
  );
  ctx.teardown.add(
    'Redis',
    redis,
    (r) => r.stop(),
    (r) => {
      void r.kill(); // sends SIGKILL before its first await
      rmSync(r.dir, { recursive: true, force: true });
    },
  );
  const client = redis.client();
  try {
    const [, appendonly] = await client.config('GET', 'appendonly');
    const [, fsync] = await client.config('GET', 'appendfsync');
    const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1];
    ui.say(
      `redis ${version ?? '?'}: appendonly ${appendonly}, appendfsync ${fsync}, a password set`,
    );
    ctx.proofs.check(
      'durable',
      'Redis writes an append-only file',
      appendonly === 'yes',
      appendonly,
    );
  } finally {
    client.disconnect();
  }
  return redis;
}

async function startCluster(ctx: StoryContext): Promise<ControlPlane> {
  const cluster = await ui.progress(
    'starting etcd and kube-apiserver (built by scripts/controlplane.sh)',
    () => ControlPlane.start(),
    (c) => `kube-apiserver ${c.version} ready at ${c.server}`,
  );
  ctx.teardown.add(
    'control plane',
    cluster,
    (c) => c.stop(),
    (c) => c.killNow(),
  );
  ui.say(`admin kubeconfig: ${cluster.kubeconfigPath}`);
  return cluster;
}

async function installChart(
  ctx: StoryContext,
  cluster: ControlPlane,
  ns: { release: string; agents: string },
  redisUrl: string,
  password: string,
  work: string,
): Promise<number> {
  // A secretKeyRef reads from the pod's own namespace: the password goes there.
  await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({
      namespace: ns.agents,
      body: { metadata: { name: SECRET.name }, stringData: { [SECRET.key]: password } },
    });
  ui.say(`Secret ${SECRET.name} (key ${SECRET.key}) in ${ns.agents} holds the Redis password`);

  const webhookPort = await freePort();
  const metrics = await metricsPort();
  const values = valuesYaml({
    redisUrl,
    passwordSecret: SECRET,
    webhookPort,
    ...(metrics === SIDECAR_METRICS_PORT ? {} : { metricsPort: metrics }),
  });
  ui.say('values.yaml:');
  ui.block(values);
  ui.say(`$ helm install ${RELEASE} ${CHART_DIR} --namespace ${ns.release} --values values.yaml`);
  const out = await ui.progress(
    'helm install',
    () =>
      helmInstall({
        cluster,
        namespace: ns.release,
        values,
        workDir: work,
        teardown: ctx.teardown,
      }),
    () => `release ${RELEASE} installed in ${ns.release}`,
  );
  ctx.proofs.check('chart', `helm reports the release deployed`, /STATUS: deployed/.test(out), out);
  return webhookPort;
}

async function runWebhook(
  ctx: StoryContext,
  cluster: ControlPlane,
  ns: { release: string; agents: string },
  redisUrl: string,
  port: number,
  work: string,
): Promise<void> {
  const deployment = await webhookDeployment(cluster, ns.release);
  const env = deployment.env;
  ui.say(`env of Deployment ${RELEASE}-webhook (rendered as the kubelet would):`);
  ui.block(
    Object.entries(env)
      .filter(([k]) => k.startsWith('INJECT_') || k.startsWith('WEBHOOK_'))
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  ctx.proofs.check(
    'chart',
    'the installed Deployment carries the values: the Redis URL and the password Secret',
    env.INJECT_REDIS_URL === redisUrl &&
      env.INJECT_REDIS_PASSWORD_SECRET === `${SECRET.name}/${SECRET.key}`,
    JSON.stringify(env),
  );
  const kubeconfig = join(work, 'webhook.kubeconfig');
  await cluster.serviceAccountKubeconfig(ns.release, deployment.serviceAccount, kubeconfig);
  const webhook = await ui.progress(
    `starting the webhook as ServiceAccount ${deployment.serviceAccount}`,
    () => WebhookProcess.start({ env: { ...env, KUBECONFIG: kubeconfig }, port }),
    (w) => `webhook serving ${w.url} (its own certificate, caBundle patched by itself)`,
  );
  ctx.teardown.add(
    'webhook',
    webhook,
    (w) => w.stop(),
    (w) => w.killNow(),
  );
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await ui.progress(
    'waiting until the API server calls the webhook',
    () =>
      waitUntilInjecting(core, ns.agents).catch((err: unknown) => {
        throw new Error(`${message(err)}\n--- webhook output ---\n${webhook.logs.trim()}`, {
          cause: err instanceof Error ? err.cause : undefined,
        });
      }),
    () => 'the API server calls the webhook for pods labelled agent',
  );
}

async function createAgent(
  ctx: StoryContext,
  cluster: ControlPlane,
  namespace: string,
  password: string,
) {
  const port = await sidecarPort();
  const written = agentPod('memory-agent-0', port);
  ui.say('the pod as written (no memory configuration in it):');
  ui.block(`labels: ${JSON.stringify(written.metadata?.labels)}\ncontainers: [agent]`);
  if (port !== 8790) ui.say(`(8790 is taken on this machine: the pod asks for ${port})`);
  ctx.proofs.check(
    'inject',
    'the pod as written has no memory configuration',
    written.spec?.containers.every((c) => c.env === undefined) === true,
  );
  const pod = await createAndReadBack(cluster, namespace, written);
  ui.say(`the pod as stored, read back from the API (the webhook's additions):`);
  ui.block(injectedView(pod));
  if (isNativeSidecar(pod)) {
    ui.say('(a native sidecar: an init container with restartPolicy Always, Kubernetes 1.29+)');
  }

  const sidecar = container(pod, SIDECAR);
  const agentEnv = new Map((container(pod, 'agent').env ?? []).map((e) => [e.name, e]));
  const secretRef = (name: string) => {
    const ref = (name === SIDECAR ? sidecar.env : container(pod, 'agent').env)?.find(
      (e) => e.name === 'MEMORY_REDIS_PASSWORD',
    )?.valueFrom?.secretKeyRef;
    return `${ref?.name}/${ref?.key}`;
  };
  ctx.proofs.check(
    'inject',
    `the stored pod is marked ${STATUS_ANNOTATION}: injected`,
    pod.metadata?.annotations?.[STATUS_ANNOTATION] === 'injected',
  );
  const record = readStatus(pod.metadata?.annotations);
  ctx.proofs.check(
    'inject',
    `its ${RECORD_ANNOTATION} records the ${SIDECAR} sidecar and the agent's memory variables`,
    record !== undefined &&
      [...record.initContainers, ...record.containers].includes(SIDECAR) &&
      (record.env.agent ?? []).includes('MEMORY_API_URL'),
    pod.metadata?.annotations?.[RECORD_ANNOTATION],
  );
  ctx.proofs.check(
    'inject',
    `the stored pod has a ${SIDECAR} sidecar running \`sidecar\``,
    JSON.stringify(sidecar.args) === '["sidecar"]',
    JSON.stringify(sidecar.args),
  );
  ctx.proofs.check(
    'inject',
    'the agent container got MEMORY_TYPE=redis, MEMORY_REDIS_URL and MEMORY_API_URL',
    agentEnv.get('MEMORY_TYPE')?.value === 'redis' &&
      agentEnv.has('MEMORY_REDIS_URL') &&
      agentEnv.get('MEMORY_API_URL')?.value === `http://127.0.0.1:${port}`,
    JSON.stringify([...agentEnv.values()]),
  );
  ctx.proofs.check(
    'secret',
    `the Redis password reaches both containers by secretKeyRef ${SECRET.name}/${SECRET.key}`,
    secretRef(SIDECAR) === `${SECRET.name}/${SECRET.key}` &&
      secretRef('agent') === `${SECRET.name}/${SECRET.key}`,
  );
  ctx.proofs.check(
    'secret',
    'the Redis password appears nowhere in the stored pod',
    !JSON.stringify(pod).includes(password),
  );
  return pod;
}

async function remember(
  ctx: StoryContext,
  cluster: ControlPlane,
  pod: V1Pod,
  sidecar: { proc?: ContainerProcess },
  password: string,
): Promise<string> {
  const env = await renderEnv(cluster, pod, SIDECAR);
  ui.say("the sidecar container's environment, resolved as the kubelet would:");
  ui.block(
    Object.entries(env)
      .map(([k, v]) => `${k}=${k === 'MEMORY_REDIS_PASSWORD' ? '******** (from the Secret)' : v}`)
      .join('\n'),
  );
  ctx.proofs.check(
    'secret',
    'the sidecar gets the password from the Secret at start',
    env.MEMORY_REDIS_PASSWORD === password,
  );
  ctx.proofs.check(
    'inject',
    `the sidecar learns its agent's name from the pod's label: AGENT_NAME=${AGENT_LABEL}`,
    env.AGENT_NAME === AGENT_LABEL,
    env.AGENT_NAME,
  );
  const api = (await renderEnv(cluster, pod, 'agent')).MEMORY_API_URL ?? '';
  sidecar.proc = await startSidecar(pod, env, api);

  ui.say(`the agent, through its MEMORY_API_URL=${api}:`);
  for (const [type, content] of [
    ['user_message', USER_MESSAGE],
    ['agent_response', AGENT_REPLY],
  ] as const) {
    const body = { event_type: type, content };
    const res = await fetch(`${api}/v1/sessions/${SESSION}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const reply = (await res.json()) as { stored?: number; events?: { event_id?: string }[] };
    ui.say(`POST /v1/sessions/${SESSION}/events ${JSON.stringify(body)}`);
    ui.say(`  → ${res.status}, stored ${reply.stored}, event_id ${reply.events?.[0]?.event_id}`);
    ctx.proofs.check(
      'stored',
      `the sidecar acknowledged the ${type} (201: Redis has it)`,
      res.status === 201 && reply.stored === 1,
      `${res.status} ${JSON.stringify(reply)}`,
    );
  }
  return api;
}

async function startSidecar(
  pod: V1Pod,
  env: Record<string, string>,
  api: string,
): Promise<ContainerProcess> {
  return ui.progress(
    `starting the ${SIDECAR} container as a process`,
    async () => {
      const proc = new ContainerProcess(container(pod, SIDECAR), env);
      try {
        await proc.waitReady(api);
      } catch (err) {
        await proc.kill();
        throw err;
      }
      return proc;
    },
    (p) => `sidecar pid ${p.pid} ready on ${api} (GET /readyz: Redis answers)`,
  );
}

async function inspectRedis(ctx: StoryContext, redis: RedisServer): Promise<void> {
  const client = redis.client();
  try {
    const keys = await keysUnder(client, `${PREFIX}:*`);
    ui.say(`$ redis-cli --scan --pattern '${PREFIX}:*'   (with TYPE and TTL)`);
    ui.block(keys.map((k) => `${k.key}  ${k.type}  ttl ${k.ttl}s`).join('\n'));
    const type = (key: string) => keys.find((k) => k.key === key)?.type;
    const sessionKey = `${PREFIX}:session:${SESSION}`;
    const eventsKey = `${PREFIX}:events:${SESSION}`;
    ctx.proofs.check('stored', `a session key: ${sessionKey} (hash)`, type(sessionKey) === 'hash');
    ctx.proofs.check('stored', `an events key: ${eventsKey} (list)`, type(eventsKey) === 'list');

    ui.say(`$ redis-cli HGETALL ${sessionKey}`);
    ui.block(
      Object.entries(await client.hgetall(sessionKey))
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n'),
    );
    const raw = await client.lrange(eventsKey, 0, -1);
    ui.say(`$ redis-cli LRANGE ${eventsKey} 0 -1`);
    ui.block(raw.map((line, i) => `${i + 1}) ${line}`).join('\n'));
    const events = raw.map((line) => JSON.parse(line) as { event_type: string; content: unknown });
    ctx.proofs.check(
      'stored',
      'the list holds the user_message then the agent_response, as KAOS RedisMemory stores them',
      events.length === 2 &&
        events[0]?.event_type === 'user_message' &&
        events[0]?.content === USER_MESSAGE &&
        events[1]?.event_type === 'agent_response' &&
        Object.keys(events[0] ?? {}).join() === 'event_id,timestamp,event_type,content,metadata',
      raw.join('\n'),
    );

    const files = appendOnlyFiles(redis.dir);
    const onDisk = files.filter((f) => f.text.includes(USER_MESSAGE)).map((f) => f.name);
    ui.say(`on disk: ${onDisk.join(', ') || '(nothing)'} in ${redis.dir}`);
    ctx.proofs.check(
      'durable',
      `the message is in Redis's append-only file on disk`,
      onDisk.length > 0,
      files.map((f) => f.name).join(', '),
    );
  } finally {
    client.disconnect();
  }
}

async function restart(
  ctx: StoryContext,
  cluster: ControlPlane,
  stored: V1Pod,
  sidecar: { proc?: ContainerProcess },
  api: string,
): Promise<void> {
  const old = sidecar.proc;
  if (!old) throw new Error('no sidecar is running');
  await old.kill();
  ui.say(`kill -9 ${old.pid}: the sidecar is gone, with no chance to save anything`);
  const down = await fetch(`${api}/healthz`).then(
    () => false,
    () => true,
  );
  ctx.proofs.check('restart', 'the killed sidecar no longer answers', down);

  // A restarted container gets its spec from the API server again.
  const pod = await readPod(cluster, stored.metadata?.namespace ?? '', stored.metadata?.name ?? '');
  sidecar.proc = await startSidecar(pod, await renderEnv(cluster, pod, SIDECAR), api);
  ctx.proofs.check(
    'restart',
    'a new sidecar process started from the same stored spec',
    sidecar.proc.pid !== old.pid,
  );

  const res = await fetch(`${api}/v1/sessions/${SESSION}/events`);
  const body = (await res.json()) as {
    agent?: string;
    events?: { event_id: string; event_type: string; content: unknown }[];
  };
  const events = body.events ?? [];
  ui.say(`GET /v1/sessions/${SESSION}/events → ${res.status}, agent "${body.agent}"`);
  ui.block(events.map((e) => `${e.event_type}: ${JSON.stringify(e.content)}`).join('\n'));
  ctx.proofs.check(
    'restart',
    `the history read back after the restart has the user_message "${USER_MESSAGE}"`,
    res.status === 200 &&
      events.some((e) => e.event_type === 'user_message' && e.content === USER_MESSAGE),
    JSON.stringify(body),
  );
  ctx.proofs.check(
    'restart',
    'and the agent_response, in order, nothing lost or doubled',
    events.map((e) => e.event_type).join() === 'user_message,agent_response',
  );

  const context = await fetch(`${api}/v1/sessions/${SESSION}/context`);
  const text = ((await context.json()) as { context?: string }).context ?? '';
  ui.say(`GET /v1/sessions/${SESSION}/context (what the agent puts in its next prompt):`);
  ui.block(text);
}
