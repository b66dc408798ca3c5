// One history whatever the agent was told (issue 19): the seed walkthrough's agent names
// its own Redis, with its own password from its own Secret. The pod goes through the real
// API server and the webhook; its sidecar, run as a process with exactly the environment
// the kubelet would give it, writes to the agent's Redis, authenticated as the agent, and
// the chart's Redis holds nothing. The same sidecar answers a memory v2 agent at
// MEMORY_STORE_ENDPOINT with the pod's AGENT_IDENTITY.
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
import { readStatus } from '../../webhook/status.js';

const CHART_PASSWORD = 'chart-redis-password';
const AGENT_PASSWORD = 'agent-own-redis-password';
const SESSION = 'seed-walkthrough';

describe("the sidecar follows the agent's own Redis", () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let chartRedis: RedisServer;
  let agentRedis: RedisServer;
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
    chartRedis = await RedisServer.start({ password: CHART_PASSWORD });
    agentRedis = await RedisServer.start({ password: AGENT_PASSWORD });
    ns = await cluster.namespace('walkthrough');
    for (const [name, password] of [
      ['kaos-memory-redis', CHART_PASSWORD],
      ['walkthrough-redis', AGENT_PASSWORD],
    ] as const) {
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name }, stringData: { password } },
      });
    }

    ({ webhook, tlsDir } = await startRegisteredWebhook(cluster, {
      INJECT_REDIS_URL: `redis://127.0.0.1:${chartRedis.port}`,
      INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/password',
      INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      // The sidecars this suite runs as processes must not take the defaults 9790 and 9791:
      // other suites' sidecars run beside them (two files at a time).
      INJECT_SIDECAR_METRICS_PORT: String(await freePort()),
      INJECT_SIDECAR_HEALTH_PORT: String(await freePort()),
      INJECT_NATIVE_SIDECAR: 'true',
    }));
    await waitUntilInjecting(core, ns);

    sidecarPort = await freePort();
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: {
          name: 'redis-agent-0',
          labels: { agent: 'redis-agent' },
          annotations: { 'memory.kaos.tools/sidecar-port': String(sidecarPort) },
        },
        spec: {
          containers: [
            {
              name: 'agent',
              image: 'axsauze/kaos-agent:v0.1.5',
              env: [
                {
                  name: 'REDIS_PASSWORD',
                  valueFrom: { secretKeyRef: { name: 'walkthrough-redis', key: 'password' } },
                },
                { name: 'MEMORY_TYPE', value: 'redis' },
                {
                  name: 'MEMORY_REDIS_URL',
                  value: `redis://:$(REDIS_PASSWORD)@127.0.0.1:${agentRedis.port}`,
                },
              ],
            },
          ],
        },
      },
    });
    pod = await core.readNamespacedPod({ namespace: ns, name: 'redis-agent-0' });
    const sidecar = findContainer(pod, 'kaos-memory')!;
    const proc = new ContainerProcess(sidecar, await envOf('kaos-memory'));
    running.push(proc);
    await proc.waitReady(`http://127.0.0.1:${sidecarPort}`);
  });
  afterAll(async () => {
    for (const proc of running) await proc.kill();
    await webhook?.stop();
    await cluster?.stop();
    await chartRedis?.stop();
    await agentRedis?.stop();
    if (tlsDir) removeDir(tlsDir);
  });

  const envOf = (name: string) => {
    const container = findContainer(pod, name);
    if (!container) throw new Error(`no container ${name} in the stored pod`);
    return renderContainerEnv(pod, container, apiEnvSources(cluster.kubeConfig(), ns));
  };

  const keysIn = async (server: RedisServer, password: string) => {
    const client = new Redis({ port: server.port, password, maxRetriesPerRequest: 1 });
    try {
      return (await client.keys('kaos:memory:*')).sort();
    } finally {
      client.disconnect();
    }
  };

  it('renders the same URL for the sidecar as for the agent, and none of the chart’s password', async () => {
    const [agent, sidecar] = [await envOf('agent'), await envOf('kaos-memory')];
    expect(sidecar.MEMORY_REDIS_URL).toBe(agent.MEMORY_REDIS_URL);
    expect(sidecar.MEMORY_REDIS_URL).toContain(AGENT_PASSWORD);
    expect(JSON.stringify(sidecar)).not.toContain(CHART_PASSWORD);
    expect(sidecar.MEMORY_REDIS_PASSWORD_FILE).toBeUndefined();
    expect(JSON.stringify(pod.spec)).not.toContain(AGENT_PASSWORD);
    expect(readStatus(pod.metadata?.annotations)?.redis).toEqual({ from: 'agent' });
    expect(agent.AGENT_IDENTITY).toBe(`kaos://agent/${ns}/redis-agent`);
    expect(sidecar.AGENT_IDENTITY).toBe(agent.AGENT_IDENTITY);
  });

  it('stores what is written through $MEMORY_API_URL in the agent’s Redis, none in the chart’s', async () => {
    const api = (await envOf('agent')).MEMORY_API_URL!;
    const posted = await fetch(`${api}/v1/sessions/${SESSION}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'user_message', content: 'the secret code is 42' }),
    });
    expect(posted.status).toBe(201);
    expect(await keysIn(agentRedis, AGENT_PASSWORD)).toContain(`kaos:memory:events:${SESSION}`);
    expect(await keysIn(chartRedis, CHART_PASSWORD)).toEqual([]);
  });

  it('serves a memory v2 agent at MEMORY_STORE_ENDPOINT as the pod’s identity, in the same Redis', async () => {
    const agent = await envOf('agent');
    const endpoint = agent.MEMORY_STORE_ENDPOINT!;
    expect(endpoint).toBe(`http://127.0.0.1:${sidecarPort}`);
    const write = (agentId: string) =>
      fetch(`${endpoint}/v1/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          attribution: { agent_client_id: agentId, session_id: `${SESSION}-v2` },
          turns: [{ role: 'user', content: 'remember the deploy window' }],
          infer: false,
        }),
      });
    expect((await write(agent.AGENT_IDENTITY!)).status).toBe(200);
    expect((await write(`kaos://agent/${ns}/someone-else`)).status).toBe(403);
    expect(await keysIn(agentRedis, AGENT_PASSWORD)).toContain(`kaos:memory:events:${SESSION}-v2`);
    expect(await keysIn(chartRedis, CHART_PASSWORD)).toEqual([]);
  });
});
