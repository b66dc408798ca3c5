// The agent's side of the story: a plain agent pod with no memory configuration,
// how its stored spec reads after admission, and its containers' environments
// rendered as the kubelet would (values, Secret keys, the downward API).
import { createServer } from 'node:net';
import {
  CoreV1Api,
  dumpYaml,
  type V1Container,
  type V1EnvVar,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ControlPlane } from '../harness/kube.js';
import { ANNOTATIONS, SIDECAR_METRICS_PORT, SIDECAR_PORT } from '../lib/contract.js';
import { apiEnvSources, findContainer, renderContainerEnv } from '../harness/podenv.js';

export const AGENT_LABEL = 'memory-agent';
export const SIDECAR = 'kaos-memory';
export const STATUS_ANNOTATION = ANNOTATIONS.status;
export const RECORD_ANNOTATION = ANNOTATIONS.injected;

/** What a team writes for an agent: a label, and nothing about memory. */
export function agentPod(name: string, sidecarPort: number): V1Pod {
  // In a cluster each pod has its own loopback, so 8790 is always free; on this
  // machine it may not be, and the pod asks for another port the documented way.
  const annotations =
    sidecarPort === SIDECAR_PORT ? undefined : { [ANNOTATIONS.port]: String(sidecarPort) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { agent: AGENT_LABEL }, ...(annotations ? { annotations } : {}) },
    spec: {
      containers: [
        { name: 'agent', image: 'python:3.12-slim', command: ['python', '-m', 'agent'] },
      ],
    },
  };
}

/** 8790 when nothing on this machine listens there, else a free port. */
export function sidecarPort(): Promise<number> {
  return portOr(SIDECAR_PORT);
}

/**
 * The chart's metrics port (9790) when nothing on this machine listens there, else a
 * free one: where the sidecar runs as a local process it shares the machine's ports.
 */
export function metricsPort(): Promise<number> {
  return portOr(SIDECAR_METRICS_PORT);
}

function portOr(preferred: number): Promise<number> {
  return listenable(preferred).then((free) => (free ? preferred : listenable(0)));
}

function listenable(port: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(0));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function createAndReadBack(
  cluster: ControlPlane,
  namespace: string,
  pod: V1Pod,
): Promise<V1Pod> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespacedPod({ namespace, body: pod });
  return readPod(cluster, namespace, pod.metadata?.name ?? '');
}

/** The pod as the API server stored it. */
export function readPod(cluster: ControlPlane, namespace: string, name: string): Promise<V1Pod> {
  return cluster.kubeConfig().makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
}

export function container(pod: V1Pod, name: string): V1Container {
  const found = findContainer(pod, name);
  if (!found) throw new Error(`the stored pod has no container ${name}`);
  return found;
}

/** A container's environment as its process gets it. */
export function renderEnv(
  cluster: ControlPlane,
  pod: V1Pod,
  name: string,
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  return renderContainerEnv(
    pod,
    container(pod, name),
    apiEnvSources(cluster.kubeConfig(), namespace),
  );
}

/** One env entry as a person reads it: its value, or where the value comes from. */
export function describeEnv(entry: V1EnvVar): string {
  const from = entry.valueFrom;
  if (from?.secretKeyRef)
    return `(from Secret ${from.secretKeyRef.name}, key ${from.secretKeyRef.key})`;
  if (from?.fieldRef) {
    const label = /^metadata\.labels\['(.+)'\]$/.exec(from.fieldRef.fieldPath)?.[1];
    return label
      ? `(from the pod's label ${label})`
      : `(from the pod's ${from.fieldRef.fieldPath})`;
  }
  if (from?.configMapKeyRef)
    return `(from ConfigMap ${from.configMapKeyRef.name}, key ${from.configMapKeyRef.key})`;
  return entry.value ?? '';
}

/** Whether the sidecar is a native one: an init container with restartPolicy Always. */
export function isNativeSidecar(pod: V1Pod): boolean {
  return (pod.spec?.initContainers ?? []).some(
    (c) => c.name === SIDECAR && c.restartPolicy === 'Always',
  );
}

/** The parts of the stored pod the webhook added, as YAML. */
export function injectedView(pod: V1Pod): string {
  const sidecar = container(pod, SIDECAR);
  const native = isNativeSidecar(pod);
  const envList = (c: V1Container, keep: (name: string) => boolean) =>
    Object.fromEntries(
      (c.env ?? []).filter((e) => keep(e.name)).map((e) => [e.name, describeEnv(e)]),
    );
  return dumpYaml({
    metadata: {
      annotations: Object.fromEntries(
        Object.entries(pod.metadata?.annotations ?? {}).filter(([k]) =>
          k.startsWith('memory.kaos.tools/'),
        ),
      ),
    },
    [native ? 'initContainers' : 'containers']: [
      {
        name: sidecar.name,
        image: sidecar.image,
        args: sidecar.args,
        ...(sidecar.restartPolicy ? { restartPolicy: sidecar.restartPolicy } : {}),
        env: envList(sidecar, () => true),
      },
    ],
    'containers[agent].env': envList(container(pod, 'agent'), (n) => n.startsWith('MEMORY_')),
  });
}
