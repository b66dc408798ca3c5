// Injection through a real API server: the webhook runs as a local process with
// a certificate from `kaos-memory certs`, and the API server calls it, applies its
// patch and validates the result before storing the pod, with its own LimitRanger,
// ResourceQuota and PodSecurity admission after the webhook (issue 23: an injected pod
// must never be refused where the same pod without the sidecar is admitted).
import {
  CoreV1Api,
  type V1Container,
  type V1Pod,
  type V1ResourceRequirements,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { apiEnvSources, findContainer, renderContainerEnv, specEnv } from '../../harness/podenv.js';
import { pollUntil } from '../../harness/poll.js';
import {
  removeDir,
  waitUntilInjecting,
  WebhookProcess,
  startRegisteredWebhook,
} from '../../harness/webhook.js';
import { readStatus, webhookVersion } from '../../webhook/status.js';

const REDIS_URL = 'redis://redis.memory.svc:6379/0';
const IMAGE = 'ghcr.io/kaos-tools/kaos-memory:0.1.0';
const STATUS = 'memory.kaos.tools/status';
// The sidecar resources before issue 23 (no CPU limit, a memory limit 4x its request): the
// webhook runs with them, so what keeps these pods admissible is the fitting, not new defaults.
const OLD_RESOURCES = { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } };

/** A restricted-profile container: what PodSecurity `restricted` asks of every container. */
const RESTRICTED = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** An API error's status and message, for asserting on refusals. */
async function refusal(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { code?: number; body?: string };
    const message = (() => {
      try {
        return String(JSON.parse(e.body ?? '{}').message ?? '');
      } catch {
        return String(e.body);
      }
    })();
    return { code: e.code ?? 0, message };
  }
  throw new Error('expected the API server to refuse');
}

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
    ({ webhook, tlsDir } = await startRegisteredWebhook(cluster, {
      INJECT_REDIS_URL: REDIS_URL,
      INJECT_SIDECAR_IMAGE: IMAGE,
      INJECT_NATIVE_SIDECAR: 'auto',
      INJECT_SIDECAR_RESOURCES: JSON.stringify(OLD_RESOURCES),
    }));
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

    const memoryEnv = [
      'MEMORY_TYPE',
      'MEMORY_REDIS_URL',
      'MEMORY_API_URL',
      'MEMORY_STORE_ENDPOINT',
      'AGENT_IDENTITY',
    ];
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
      MEMORY_HEALTH_PORT: '9791',
      AGENT_IDENTITY: `kaos://agent/${ns}/memory-agent`,
    });
    // The API server stores the metrics port the PodMonitor selects, on a native sidecar too,
    // and the health port its probes ask.
    expect(sidecar?.ports).toEqual([
      { name: 'memory-metrics', containerPort: 9790, protocol: 'TCP' },
      { name: 'memory-health', containerPort: 9791, protocol: 'TCP' },
    ]);
    expect(sidecar?.readinessProbe?.httpGet).toEqual({
      path: '/readyz',
      port: 9791,
      scheme: 'HTTP',
    });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['agent', 'tools']);
    for (const container of pod.spec?.containers ?? []) {
      expect(specEnv(container)).toEqual({
        MEMORY_TYPE: 'redis',
        MEMORY_REDIS_URL: REDIS_URL,
        MEMORY_API_URL: 'http://127.0.0.1:8790',
        MEMORY_STORE_ENDPOINT: 'http://127.0.0.1:8790',
        AGENT_IDENTITY: `kaos://agent/${ns}/memory-agent`,
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
      MEMORY_STORE_ENDPOINT: 'http://127.0.0.1:8790',
      AGENT_IDENTITY: `kaos://agent/${ns}/memory-agent`,
    });
  });

  it("gives the sidecar the agent's own Redis: the URL expands to the same, secret and all", async () => {
    const password = 'agent-only-p4ss';
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'walkthrough-redis' }, stringData: { password } },
    });
    const env = [
      { name: 'LOG_LEVEL', value: 'info' },
      {
        name: 'REDIS_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'walkthrough-redis', key: 'password' } },
      },
      { name: 'REDIS_HOST', value: `redis.${ns}.svc.cluster.local` },
      { name: 'MEMORY_TYPE', value: 'redis' },
      { name: 'MEMORY_REDIS_URL', value: 'redis://:$(REDIS_PASSWORD)@$(REDIS_HOST):6379' },
    ];
    const body = agentPod('own-redis', {}, [
      { name: 'agent', image: 'python:3.12-slim', env },
      {
        name: 'worker',
        image: 'python:3.12-slim',
        env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://w:6379' }],
      },
      { name: 'tools', image: 'node:20-slim' },
    ]);
    const created = await core.createNamespacedPod({ namespace: ns, body });
    expect(JSON.stringify(created.spec)).not.toContain(password);
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'own-redis' });
    expect(readStatus(pod.metadata?.annotations)?.redis).toEqual({
      from: 'agent',
      others: ['worker'],
    });
    const sources = apiEnvSources(cluster.kubeConfig(), ns);
    const rendered = async (name: string) =>
      renderContainerEnv(pod, findContainer(pod, name)!, sources);
    const expected = `redis://:${password}@redis.${ns}.svc.cluster.local:6379`;
    expect((await rendered('agent')).MEMORY_REDIS_URL).toBe(expected);
    expect((await rendered('kaos-memory')).MEMORY_REDIS_URL).toBe(expected);
    expect((await rendered('tools')).MEMORY_REDIS_URL).toBe(expected);
    const sidecar = findContainer(pod, 'kaos-memory');
    expect(Object.keys(specEnv(sidecar))).not.toContain('MEMORY_REDIS_PASSWORD_FILE');
    expect(Object.keys(specEnv(sidecar))).not.toContain('LOG_LEVEL');
  });

  it('gives no AGENT_IDENTITY when the agent label is empty', async () => {
    const body = agentPod('no-identity');
    body.metadata!.labels = { agent: '' };
    const created = await core.createNamespacedPod({ namespace: ns, body });
    const all = [...(created.spec?.initContainers ?? []), ...(created.spec?.containers ?? [])];
    expect(all.map((c) => c.name).sort()).toEqual(['agent', 'kaos-memory']);
    for (const container of all)
      expect(Object.keys(specEnv(container))).not.toContain('AGENT_IDENTITY');
    expect(specEnv(findContainer(created, 'agent')).MEMORY_STORE_ENDPOINT).toBe(
      'http://127.0.0.1:8790',
    );
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

  describe('never makes a pod inadmissible', () => {
    /** A pod with one restricted app container of these resources. */
    const governed = (
      name: string,
      resources: V1ResourceRequirements,
      extra: Partial<V1Pod['spec']> = {},
    ): V1Pod => ({
      metadata: { name, labels: { agent: name } },
      spec: {
        containers: [
          { name: 'agent', image: 'python:3.12-slim', resources, securityContext: RESTRICTED },
        ],
        ...extra,
      },
    });
    /** The pod as the webhook before issue 23 made it: its sidecar, unfitted. */
    const withOldSidecar = (pod: V1Pod): V1Pod => ({
      ...pod,
      metadata: { ...pod.metadata, name: `${pod.metadata!.name}-old`, labels: {} },
      spec: {
        ...pod.spec!,
        initContainers: [
          {
            name: 'kaos-memory',
            image: IMAGE,
            restartPolicy: 'Always',
            resources: OLD_RESOURCES,
            securityContext: RESTRICTED,
          },
        ],
      },
    });
    /** Waits until the webhook's cluster view fits pods of this namespace as `expected` says. */
    const untilFitted = (namespace: string, pod: V1Pod, expected: (p: V1Pod) => boolean) =>
      pollUntil(
        'the webhook to see the namespace limits',
        async () =>
          expected(
            await core.createNamespacedPod({
              namespace,
              body: { ...pod, metadata: { ...pod.metadata, name: `${pod.metadata!.name}-dry` } },
              dryRun: 'All',
            }),
          ),
        { timeoutMs: 20_000, intervalMs: 200 },
      );

    it('leaves a Windows pod uninjected, however it asks for Windows', async () => {
      const windows = await cluster.namespace('windows');
      const osPod = agentPod('win-os');
      osPod.spec!.os = { name: 'windows' };
      // The API server refuses the sidecar's Linux securityContext on a Windows pod (422).
      const control = withOldSidecar(osPod);
      control.spec!.containers[0]!.securityContext = undefined;
      control.spec!.initContainers![0]!.securityContext = {
        runAsUser: 1000,
        readOnlyRootFilesystem: true,
      };
      expect(
        await refusal(core.createNamespacedPod({ namespace: windows, body: control })),
      ).toMatchObject({ code: 422 });

      const selector = agentPod('win-selector');
      selector.spec!.nodeSelector = { 'kubernetes.io/os': 'windows' };
      const affinity = agentPod('win-affinity');
      affinity.spec!.affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/os', operator: 'In', values: ['windows'] },
                ],
              },
            ],
          },
        },
      };
      for (const body of [osPod, selector, affinity]) {
        const pod = await core.createNamespacedPod({ namespace: windows, body });
        expect(pod.metadata?.annotations?.[STATUS]).toBeUndefined();
        expect(findContainer(pod, 'kaos-memory')).toBeUndefined();
      }
    });

    it('fits the sidecar to a LimitRange minimum and a limit-to-request ratio', async () => {
      const ranged = await cluster.namespace('limitrange');
      await core.createNamespacedLimitRange({
        namespace: ranged,
        body: {
          metadata: { name: 'floor' },
          spec: {
            limits: [
              { type: 'Container', min: { cpu: '50m' }, maxLimitRequestRatio: { memory: '2' } },
            ],
          },
        },
      });
      const pod = governed('ranged', {
        requests: { cpu: '100m', memory: '128Mi' },
        limits: { cpu: '200m', memory: '256Mi' },
      });
      // The sidecar the webhook used to inject breaks both rules.
      const control = await refusal(
        core.createNamespacedPod({ namespace: ranged, body: withOldSidecar(pod) }),
      );
      expect(control.code).toBe(403);
      expect(control.message).toContain(
        'minimum cpu usage per Container is 50m, but request is 10m',
      );
      expect(control.message).toContain('memory max limit to request ratio per Container is 2');

      await untilFitted(
        ranged,
        pod,
        (p) => findContainer(p, 'kaos-memory')?.resources?.requests?.cpu === '50m',
      );
      const stored = await core.createNamespacedPod({ namespace: ranged, body: pod });
      expect(findContainer(stored, 'kaos-memory')?.resources).toEqual({
        requests: { cpu: '50m', memory: '128Mi' },
        limits: { memory: '256Mi' },
      });
    });

    it('gives the sidecar a CPU limit where a ResourceQuota tracks limits.cpu', async () => {
      const quoted = await cluster.namespace('quota');
      const hard = { 'limits.cpu': '4', 'limits.memory': '4Gi' };
      await core.createNamespacedResourceQuota({
        namespace: quoted,
        body: { metadata: { name: 'compute' }, spec: { hard } },
      });
      // No quota controller runs here: give the quota its status as the controller would.
      await core.replaceNamespacedResourceQuotaStatus({
        name: 'compute',
        namespace: quoted,
        body: {
          metadata: { name: 'compute', namespace: quoted },
          spec: { hard },
          status: { hard, used: { 'limits.cpu': '0', 'limits.memory': '0' } },
        },
      });
      const pod = governed('quoted', { limits: { cpu: '500m', memory: '128Mi' } });
      const control = await refusal(
        core.createNamespacedPod({ namespace: quoted, body: withOldSidecar(pod) }),
      );
      expect(control).toMatchObject({ code: 403 });
      expect(control.message).toContain('must specify limits.cpu for: kaos-memory');

      await untilFitted(
        quoted,
        pod,
        (p) => findContainer(p, 'kaos-memory')?.resources?.limits?.cpu !== undefined,
      );
      const stored = await core.createNamespacedPod({ namespace: quoted, body: pod });
      expect(findContainer(stored, 'kaos-memory')?.resources?.limits).toEqual({
        cpu: '500m',
        memory: '256Mi',
      });
    });

    it('admits a pod without the sidecar when the sidecar alone would exceed the quota', async () => {
      const full = await cluster.namespace('quota-full');
      const hard = { 'limits.memory': '1Gi' };
      await core.createNamespacedResourceQuota({
        namespace: full,
        body: { metadata: { name: 'memory' }, spec: { hard } },
      });
      await core.replaceNamespacedResourceQuotaStatus({
        name: 'memory',
        namespace: full,
        body: {
          metadata: { name: 'memory', namespace: full },
          spec: { hard },
          status: { hard, used: { 'limits.memory': '900Mi' } },
        },
      });
      const pod = governed('almost-full', { limits: { memory: '64Mi' } });
      const control = await refusal(
        core.createNamespacedPod({ namespace: full, body: withOldSidecar(pod) }),
      );
      expect(control.message).toContain('exceeded quota: memory');

      await untilFitted(full, pod, (p) => findContainer(p, 'kaos-memory') === undefined);
      const stored = await core.createNamespacedPod({ namespace: full, body: pod });
      expect(findContainer(stored, 'kaos-memory')).toBeUndefined();
      expect(stored.metadata?.annotations?.[STATUS]).toBeUndefined();
    });

    it('keeps injected pods within PodSecurity restricted', async () => {
      const restricted = await cluster.namespace('restricted', {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      });
      // PodSecurity is on: a pod that runs as root with privilege escalation is refused.
      const loose = agentPod('loose');
      loose.metadata!.annotations = { 'memory.kaos.tools/inject': 'false' };
      expect(
        await refusal(core.createNamespacedPod({ namespace: restricted, body: loose })),
      ).toMatchObject({ code: 403 });

      const pod = governed(
        'strict',
        {},
        { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } },
      );
      const stored = await core.createNamespacedPod({ namespace: restricted, body: pod });
      expect(findContainer(stored, 'kaos-memory')?.securityContext).toMatchObject(RESTRICTED);
    });
  });
});
