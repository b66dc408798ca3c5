import type { V1Container, V1EnvVar, V1Probe } from '@kubernetes/client-node';
import type { InjectConfig } from './config.js';
import type { SidecarSettings } from './overrides.js';

export const SIDECAR_NAME = 'kaos-memory';
export const AGENT_LABEL = 'agent';
/**
 * The image's own unprivileged user (node's uid 1000, as the chart runs the webhook), set
 * explicitly so runAsNonRoot also holds for an override image whose USER is root or a name.
 */
const SIDECAR_UID = 1000;

/**
 * The sidecar listens on 127.0.0.1 only, and kubelet's httpGet and tcpSocket probes
 * dial the pod IP, so the probes run inside the container: node (already in the image)
 * fetches the loopback route and exits 0 on HTTP 200. No extra binary or CLI command.
 */
export function probeCommand(port: number, path: '/healthz' | '/readyz'): string[] {
  const script =
    `require('http').get('http://127.0.0.1:${port}${path}',{timeout:2000},` +
    `r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))` +
    `.on('timeout',()=>process.exit(1))`;
  return ['node', '-e', script];
}

function probe(port: number, path: '/healthz' | '/readyz', timing: Partial<V1Probe>): V1Probe {
  return { exec: { command: probeCommand(port, path) }, timeoutSeconds: 3, ...timing };
}

/** The memory sidecar container, as an ordinary container or a native sidecar. */
export function sidecarContainer(config: InjectConfig, settings: SidecarSettings): V1Container {
  const env: V1EnvVar[] = [{ name: 'MEMORY_REDIS_URL', value: config.redisUrl }];
  if (config.passwordSecret) {
    env.push({
      name: 'MEMORY_REDIS_PASSWORD',
      valueFrom: {
        secretKeyRef: { name: config.passwordSecret.name, key: config.passwordSecret.key },
      },
    });
  }
  env.push({ name: 'MEMORY_SIDECAR_PORT', value: String(settings.port) });
  env.push({ name: 'NODE_OPTIONS', value: config.nodeOptions });
  for (const name of Object.keys(config.sidecarEnv).sort()) {
    env.push({ name, value: config.sidecarEnv[name] });
  }
  // The label, not metadata.name: generateName pods have no name at admission.
  env.push({
    name: 'AGENT_NAME',
    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.labels['${AGENT_LABEL}']` } },
  });

  const container: V1Container = {
    name: SIDECAR_NAME,
    image: settings.image,
    imagePullPolicy: config.imagePullPolicy,
    args: ['sidecar'],
    env,
    resources: settings.resources,
    startupProbe: probe(settings.port, '/healthz', { periodSeconds: 1, failureThreshold: 60 }),
    livenessProbe: probe(settings.port, '/healthz', { periodSeconds: 20, failureThreshold: 3 }),
    readinessProbe: probe(settings.port, '/readyz', { periodSeconds: 10, failureThreshold: 3 }),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (config.nativeSidecar) container.restartPolicy = 'Always';
  return container;
}
