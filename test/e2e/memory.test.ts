// The whole promise, end to end: an agent pod admitted through the real API server
// gets a memory sidecar; that sidecar, run as a process with exactly the environment
// the kubelet would give it, stores a conversation in Redis; the "pod restart"
// (SIGKILL, start again from the same stored spec) loses nothing.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerProcess } from '../../harness/container.js';
import { ControlPlane } from '../../harness/kube.js';
import { apiEnvSources, findContainer, renderContainerEnv } from '../../harness/podenv.js';
import { freePort } from '../../harness/ports.js';
import { RedisServer } from '../../harness/redis.js';
import {
  removeDir,
  waitUntilInjecting,
  WebhookProcess,
  startRegisteredWebhook,
} from '../../harness/webhook.js';

const PASSWORD = 'e2e-redis-password';
const SESSION = 'conversation-42';

describe('the whole promise: injected sidecar, durable history across a pod restart', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let redis: RedisServer;
  let webhook: WebhookProcess;
  let tlsDir: string;
  let ns: string;
  let pod: V1Pod;
  let sidecarPort: number;
  const running: ContainerProcess[] = [];

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    redis = await RedisServer.start({ aof: true, password: PASSWORD });
    ns = await cluster.namespace('agents');
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'kaos-memory-redis' }, stringData: { password: PASSWORD } },
    });

    ({ webhook, tlsDir } = await startRegisteredWebhook(cluster, {
      INJECT_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/password',
      INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      // The sidecars this suite runs as processes must not take the defaults 9790 and 9791:
      // other suites' sidecars run beside them (two files at a time).
      INJECT_SIDECAR_METRICS_PORT: String(await freePort()),
      INJECT_SIDECAR_HEALTH_PORT: String(await freePort()),
      // The ordinary-container shape; the injection suite covers the native one.
      INJECT_NATIVE_SIDECAR: 'false',
    }));
    await waitUntilInjecting(core, ns);

    // A free port instead of 8790, asked for the way a user would: by annotation.
    sidecarPort = await freePort();
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: {
          name: 'memory-agent-0',
          labels: { agent: 'memory-agent' },
          annotations: { 'memory.kaos.tools/sidecar-port': String(sidecarPort) },
        },
        spec: { containers: [{ name: 'agent', image: 'python:3.12-slim' }] },
      },
    });
    pod = await core.readNamespacedPod({ namespace: ns, name: 'memory-agent-0' });
  });
  afterAll(async () => {
    for (const proc of running) await proc.kill();
    await webhook?.stop();
    await cluster?.stop();
    await redis?.stop();
    if (tlsDir) removeDir(tlsDir);
  });

  /** The stored spec, rendered as the kubelet would: values, Secret keys, the downward API. */
  const envOf = (name: string) => {
    const container = findContainer(pod, name);
    if (!container) throw new Error(`no container ${name} in the stored pod`);
    return renderContainerEnv(pod, container, apiEnvSources(cluster.kubeConfig(), ns));
  };

  const startSidecar = async () => {
    const proc = new ContainerProcess(
      findContainer(pod, 'kaos-memory')!,
      await envOf('kaos-memory'),
    );
    running.push(proc);
    await proc.waitReady(`http://127.0.0.1:${sidecarPort}`);
    return proc;
  };

  it('gives the sidecar and the agent everything they need, with no secret in the pod spec', async () => {
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['agent', 'kaos-memory']);
    expect(JSON.stringify(pod)).not.toContain(PASSWORD);

    const sidecar = await envOf('kaos-memory');
    expect(sidecar).toMatchObject({
      MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      MEMORY_REDIS_PASSWORD: PASSWORD,
      MEMORY_SIDECAR_PORT: String(sidecarPort),
      AGENT_NAME: 'memory-agent',
    });
    const agent = await envOf('agent');
    expect(agent).toMatchObject({
      MEMORY_TYPE: 'redis',
      MEMORY_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`,
      MEMORY_API_URL: `http://127.0.0.1:${sidecarPort}`,
    });
  });

  it('keeps the history through a SIGKILL and a restart from the same spec', async () => {
    const api = (await envOf('agent')).MEMORY_API_URL!;
    const first = await startSidecar();
    const posted = await fetch(`${api}/v1/sessions/${SESSION}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        event_type: 'user_message',
        content: 'Remember: the deploy key rotates on Fridays.',
        event_id: 'evt-1',
      }),
    });
    expect(posted.status).toBe(201);

    await first.kill(); // the pod restart: no graceful shutdown
    await expect(fetch(`${api}/healthz`)).rejects.toThrow();
    await startSidecar();

    const res = await fetch(`${api}/v1/sessions/${SESSION}/events`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { agent: string; events: Record<string, unknown>[] };
    expect(body.agent).toBe('memory-agent');
    expect(body.events).toHaveLength(1);
    expect(body.events[0]).toMatchObject({
      event_id: 'evt-1',
      event_type: 'user_message',
      content: 'Remember: the deploy key rotates on Fridays.',
    });
  });

  it('is the same history an agent reads straight from Redis through its injected URL', async () => {
    const agent = await envOf('agent');
    const client = new Redis(agent.MEMORY_REDIS_URL!, { maxRetriesPerRequest: 1 });
    try {
      const raw = await client.lrange(`kaos:memory:events:${SESSION}`, 0, -1);
      expect(raw.map((r) => JSON.parse(r) as Record<string, unknown>)).toMatchObject([
        { event_id: 'evt-1', event_type: 'user_message' },
      ]);
      expect(await client.zscore('kaos:memory:sessions', SESSION)).not.toBeNull();
    } finally {
      client.disconnect();
    }
  });
});
