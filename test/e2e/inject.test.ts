// Injection through a real API server: the webhook runs as a local process with
// a certificate from `kaos-memory certs`, and the API server calls it, applies its
// patch and validates the result before storing the pod.
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type V1Container,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { findContainer, specEnv } from '../../harness/podenv.js';
import {
  removeDir,
  waitUntilInjecting,
  webhookConfiguration,
  WebhookProcess,
  writeWebhookCerts,
} from '../../harness/webhook.js';
import { readStatus, webhookVersion } from '../../webhook/status.js';

const REDIS_URL = 'redis://redis.memory.svc:6379/0';
const IMAGE = 'ghcr.io/kaos-tools/kaos-memory:0.1.0';
const STATUS = 'memory.kaos.tools/status';

function agentPod(
  name: string,
  extra: Partial<V1Pod['metadata']> = {},
  containers?: V1Container[],
): V1Pod {
  return {
    metadata: { name, labels: { agent: 'memory-agent' }, ...extra },
    spec: {
      containers: containers ?? [
        { name: 'agent', image: 'python:3.12-slim', command: ['sleep', 'inf'] },
      ],
    },
  };
}

describe('webhook injection through a real kube-apiserver', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let webhook: WebhookProcess;
  let tlsDir: string;
  let ns: string;

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const certs = writeWebhookCerts();
    tlsDir = certs.dir;
    webhook = await WebhookProcess.start({
      env: {
        WEBHOOK_TLS_DIR: tlsDir,
        KUBECONFIG: cluster.kubeconfigPath,
        INJECT_REDIS_URL: REDIS_URL,
        INJECT_SIDECAR_IMAGE: IMAGE,
        INJECT_NATIVE_SIDECAR: 'auto',
      },
    });
    await cluster
      .kubeConfig()
      .makeApiClient(AdmissionregistrationV1Api)
      .createMutatingWebhookConfiguration({
        body: await webhookConfiguration({ url: webhook.url, caBundle: certs.caCert }),
      });
    ns = await cluster.namespace('inject');
    await waitUntilInjecting(core, ns);
  });
  afterAll(async () => {
    await webhook?.stop();
    await cluster?.stop();
    if (tlsDir) removeDir(tlsDir);
  });

  it('stores a labelled pod with the sidecar and the memory env in every app container', async () => {
    const body = agentPod('agent-a', {}, [
      { name: 'agent', image: 'python:3.12-slim' },
      { name: 'tools', image: 'node:20-slim' },
    ]);
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'agent-a' });

    const memoryEnv = ['MEMORY_TYPE', 'MEMORY_REDIS_URL', 'MEMORY_API_URL'];
    expect(readStatus(pod.metadata?.annotations)).toEqual({
      version: webhookVersion(),
      initContainers: ['kaos-memory'],
      containers: [],
      env: { agent: memoryEnv, tools: memoryEnv },
    });
    // auto: the API server is 1.37, so a native sidecar (an init container that keeps running).
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'kaos-memory');
    expect(sidecar).toMatchObject({ image: IMAGE, args: ['sidecar'], restartPolicy: 'Always' });
    expect(specEnv(sidecar)).toMatchObject({
      MEMORY_REDIS_URL: REDIS_URL,
      MEMORY_SIDECAR_PORT: '8790',
      MEMORY_METRICS_PORT: '9790',
    });
    // The API server stores the metrics port the PodMonitor selects, on a native sidecar too.
    expect(sidecar?.ports).toEqual([
      { name: 'memory-metrics', containerPort: 9790, protocol: 'TCP' },
    ]);
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['agent', 'tools']);
    for (const container of pod.spec?.containers ?? []) {
      expect(specEnv(container)).toEqual({
        MEMORY_TYPE: 'redis',
        MEMORY_REDIS_URL: REDIS_URL,
        MEMORY_API_URL: 'http://127.0.0.1:8790',
      });
    }
  });

  it('leaves a pod without the agent label untouched', async () => {
    const body: V1Pod = {
      metadata: { name: 'plain' },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    };
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'plain' });
    expect(pod.metadata?.annotations?.[STATUS]).toBeUndefined();
    expect(pod.spec?.initContainers).toBeUndefined();
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['web']);
    expect(pod.spec?.containers[0]?.env).toBeUndefined();
  });

  it('respects the opt-out annotation memory.kaos.tools/inject: "false"', async () => {
    const body = agentPod('opted-out', { annotations: { 'memory.kaos.tools/inject': 'false' } });
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'opted-out' });
    expect(pod.metadata?.annotations?.[STATUS]).toBeUndefined();
    expect(findContainer(pod, 'kaos-memory')).toBeUndefined();
    expect(pod.spec?.containers[0]?.env).toBeUndefined();
  });

  it('respects the namespace label memory.kaos.tools/injection: disabled', async () => {
    const disabled = await cluster.namespace('no-memory', {
      'memory.kaos.tools/injection': 'disabled',
    });
    await core.createNamespacedPod({ namespace: disabled, body: agentPod('agent-b') });
    const pod = await core.readNamespacedPod({ namespace: disabled, name: 'agent-b' });
    expect(pod.metadata?.annotations?.[STATUS]).toBeUndefined();
    expect(findContainer(pod, 'kaos-memory')).toBeUndefined();
  });

  it('injects a generateName pod, naming the agent from its label', async () => {
    const body: V1Pod = {
      metadata: { generateName: 'memory-agent-', labels: { agent: 'memory-agent' } },
      spec: { containers: [{ name: 'agent', image: 'python:3.12-slim' }] },
    };
    const created = await core.createNamespacedPod({ namespace: ns, body });
    expect(created.metadata?.name).toMatch(/^memory-agent-[a-z0-9]{5}$/);
    const pod = await core.readNamespacedPod({ namespace: ns, name: created.metadata!.name! });
    expect(readStatus(pod.metadata?.annotations)?.initContainers).toEqual(['kaos-memory']);
    const agentName = findContainer(pod, 'kaos-memory')?.env?.find((e) => e.name === 'AGENT_NAME');
    expect(agentName?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['agent']");
  });

  it("keeps a container's own MEMORY_TYPE and adds only what is missing", async () => {
    const body = agentPod('own-type', {}, [
      { name: 'agent', image: 'python:3.12-slim', env: [{ name: 'MEMORY_TYPE', value: 'local' }] },
    ]);
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'own-type' });
    const env = pod.spec?.containers[0]?.env ?? [];
    expect(env.filter((e) => e.name === 'MEMORY_TYPE')).toEqual([
      { name: 'MEMORY_TYPE', value: 'local' },
    ]);
    expect(specEnv(pod.spec?.containers[0])).toEqual({
      MEMORY_TYPE: 'local',
      MEMORY_REDIS_URL: REDIS_URL,
      MEMORY_API_URL: 'http://127.0.0.1:8790',
    });
  });

  it('answers a server-side dry-run create with the injected pod and stores nothing', async () => {
    const dry = await core.createNamespacedPod({
      namespace: ns,
      body: agentPod('dry-run'),
      dryRun: 'All',
    });
    expect(readStatus(dry.metadata?.annotations)?.initContainers).toEqual(['kaos-memory']);
    expect(findContainer(dry, 'kaos-memory')?.image).toBe(IMAGE);
    expect(specEnv(dry.spec?.containers[0]).MEMORY_API_URL).toBe('http://127.0.0.1:8790');
    await expect(core.readNamespacedPod({ namespace: ns, name: 'dry-run' })).rejects.toMatchObject({
      code: 404,
    });
  });

  it('does not inject twice: a copy of an injected pod is admitted as it is', async () => {
    // As when a controller copies a template that already carries the sidecar.
    const original = await core.readNamespacedPod({ namespace: ns, name: 'agent-a' });
    // Without the token mounts the ServiceAccount plugin added: it adds them again.
    const strip = (c: V1Container): V1Container => ({ ...c, volumeMounts: undefined });
    const copy: V1Pod = {
      metadata: {
        name: 'agent-a-copy',
        labels: original.metadata?.labels,
        annotations: original.metadata?.annotations,
      },
      spec: {
        containers: original.spec!.containers.map(strip),
        initContainers: original.spec?.initContainers?.map(strip),
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: copy });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'agent-a-copy' });
    const all = [...(pod.spec?.initContainers ?? []), ...pod.spec!.containers];
    expect(all.filter((c) => c.name === 'kaos-memory')).toHaveLength(1);
    expect(pod.spec?.containers[0]?.env).toEqual(original.spec?.containers[0]?.env);
  });
});
