import type {
  V1Container,
  V1ContainerPort,
  V1EnvVar,
  V1Probe,
  V1Volume,
} from '@kubernetes/client-node';
import {
  AGENT_LABEL,
  ENV,
  HEALTH_PORT_NAME,
  METRICS_PORT_NAME,
  SIDECAR_CONTAINER,
  SIDECAR_HOST,
  SIDECAR_PASSWORD_DIR,
  SIDECAR_PASSWORD_FILE,
  SIDECAR_PASSWORD_VOLUME,
} from '../lib/contract.js';
import { TENANT_SECRET } from '../lib/tenancy.js';
import type { InjectConfig } from './config.js';
import type { SidecarSettings } from './overrides.js';

/**
 * The image's own unprivileged user (node's uid 1000, as the chart runs the webhook), set
 * explicitly so runAsNonRoot also holds for an override image whose USER is root or a name.
 */
const SIDECAR_UID = 1000;

/** An exec probe's HTTP request may take PROBE_REQUEST_MS; any probe, PROBE_TIMEOUT_SECONDS in all. */
const PROBE_REQUEST_MS = 2_000;
const PROBE_TIMEOUT_SECONDS = 3;

/**
 * Probe timing. Startup: up to a minute, checked every second, so the app containers of
 * a native sidecar start as soon as it answers. Then liveness every 20 s and readiness
 * (Redis answers) every 10 s, each failing after three misses; a pod's annotations may
 * retune readiness (webhook/overrides.ts).
 */
const STARTUP: Partial<V1Probe> = { periodSeconds: 1, failureThreshold: 60 };
export const LIVENESS: Partial<V1Probe> = { periodSeconds: 20, failureThreshold: 3 };
export const READINESS: Partial<V1Probe> = { periodSeconds: 10, failureThreshold: 3 };

/**
 * Kubelet's httpGet probes dial the pod IP, where the sidecar's health listener answers
 * /healthz and /readyz (the API stays on 127.0.0.1). Kubelet makes the request itself:
 * nothing starts in the container.
 */
function httpProbe(healthPort: number, path: ProbePath, timing: Partial<V1Probe>): V1Probe {
  return {
    httpGet: { path, port: healthPort, scheme: 'HTTP' },
    timeoutSeconds: PROBE_TIMEOUT_SECONDS,
    ...timing,
  };
}

/**
 * With the health listener off (port 0) nothing answers probes on the pod IP, so the
 * probe runs inside the container: node (already in the image) fetches the loopback route
 * and exits 0 on HTTP 200. Each one starts a node process: ~0.1 s of CPU and ~44 MB in
 * the sidecar's cgroup (decision 0042).
 */
export function probeCommand(port: number, path: ProbePath): string[] {
  const script =
    `require('http').get('http://${SIDECAR_HOST}:${port}${path}',{timeout:${PROBE_REQUEST_MS}},` +
    `r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))` +
    `.on('timeout',()=>process.exit(1))`;
  return ['node', '-e', script];
}

type ProbePath = '/healthz' | '/readyz';

/** A probe of `path`: httpGet on the health listener when there is one, else exec. */
function probe(
  port: number,
  healthPort: number,
  path: ProbePath,
  timing: Partial<V1Probe>,
): V1Probe {
  if (healthPort > 0) return httpProbe(healthPort, path, timing);
  return {
    exec: { command: probeCommand(port, path) },
    timeoutSeconds: PROBE_TIMEOUT_SECONDS,
    ...timing,
  };
}

/** The sidecar's listeners on the pod IP (0: none): Prometheus's and kubelet's. */
export interface PodPorts {
  metrics: number;
  health: number;
}

const NO_POD_PORTS: PodPorts = { metrics: 0, health: 0 };

/** What the sidecar takes from the pod it is injected into. */
export interface SidecarPod {
  /**
   * The app container's own MEMORY_REDIS_URL and the entries it references, in order
   * (webhook/follow.ts); absent: the chart's Redis and password.
   */
  redis?: V1EnvVar[];
  /** AGENT_IDENTITY, `kaos://agent/<namespace>/<agent>`; absent when the label is empty. */
  identity?: string;
  /**
   * In an isolated namespace (and not following the agent's Redis): the sidecar
   * authenticates as the namespace's tenant user, from the Secret TENANT_SECRET there.
   */
  tenant?: boolean;
}

/** The Secret and key the sidecar's password comes from: the tenant's, the chart's, or none. */
export function sidecarPasswordSecret(
  config: InjectConfig,
  pod: SidecarPod,
): { name: string; key: string } | undefined {
  if (pod.redis !== undefined) return undefined;
  if (pod.tenant) return { name: TENANT_SECRET.name, key: TENANT_SECRET.passwordKey };
  return config.passwordSecret;
}

/**
 * The memory sidecar container, as an ordinary container or a native sidecar. `ports` are
 * where it serves /metrics and its probes on the pod IP.
 */
export function sidecarContainer(
  config: InjectConfig,
  settings: SidecarSettings,
  ports: PodPorts = NO_POD_PORTS,
  pod: SidecarPod = {},
): V1Container {
  // Followed: the agent's own URL, after the entries it expands (webhook/follow.ts), and
  // none of the chart's credentials: the sidecar authenticates as the agent does.
  const secret = sidecarPasswordSecret(config, pod);
  const env: V1EnvVar[] = pod.redis
    ? pod.redis.map((entry) => structuredClone(entry))
    : [{ name: ENV.redisUrl, value: config.redisUrl }];
  if (pod.tenant && secret) {
    env.push({
      name: ENV.redisUsername,
      valueFrom: { secretKeyRef: { name: secret.name, key: TENANT_SECRET.usernameKey } },
    });
  }
  if (secret) {
    // The file is the live value (a rotation reaches the running sidecar); the variable
    // is the value at start, for a sidecar image that predates the file.
    env.push({
      name: ENV.redisPassword,
      valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } },
    });
    env.push({ name: ENV.redisPasswordFile, value: SIDECAR_PASSWORD_FILE });
  }
  env.push({ name: ENV.sidecarPort, value: String(settings.port) });
  // Always set: 0 keeps the sidecar from opening its default port undeclared.
  env.push({ name: ENV.metricsPort, value: String(ports.metrics) });
  env.push({ name: ENV.healthPort, value: String(ports.health) });
  env.push({ name: ENV.nodeOptions, value: config.nodeOptions });
  for (const name of Object.keys(config.sidecarEnv).sort()) {
    env.push({ name, value: config.sidecarEnv[name] });
  }
  // The label, not metadata.name: generateName pods have no name at admission.
  env.push({
    name: ENV.agentName,
    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.labels['${AGENT_LABEL}']` } },
  });
  // The only agent a memory v2 request may name (absent: none may).
  if (pod.identity !== undefined) env.push({ name: ENV.agentIdentity, value: pod.identity });

  const container: V1Container = {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    imagePullPolicy: config.imagePullPolicy,
    args: ['sidecar'],
    env,
    // The metrics and health ports only: the API listens on loopback, unreachable from outside.
    ...declaredPorts(ports),
    resources: settings.resources,
    startupProbe: probe(settings.port, ports.health, '/healthz', STARTUP),
    livenessProbe: probe(settings.port, ports.health, '/healthz', LIVENESS),
    readinessProbe: probe(settings.port, ports.health, '/readyz', {
      ...READINESS,
      ...settings.readiness,
    }),
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
  if (secret) {
    container.volumeMounts = [
      { name: SIDECAR_PASSWORD_VOLUME, mountPath: SIDECAR_PASSWORD_DIR, readOnly: true },
    ];
  }
  if (config.nativeSidecar) container.restartPolicy = 'Always';
  return container;
}

function declaredPorts(ports: PodPorts): Pick<V1Container, 'ports'> {
  const declared: V1ContainerPort[] = [];
  if (ports.metrics > 0) {
    declared.push({ name: METRICS_PORT_NAME, containerPort: ports.metrics, protocol: 'TCP' });
  }
  if (ports.health > 0) {
    declared.push({ name: HEALTH_PORT_NAME, containerPort: ports.health, protocol: 'TCP' });
  }
  return declared.length > 0 ? { ports: declared } : {};
}

/**
 * The pod volume holding the password for the sidecar alone: only the one key, as a
 * file the kubelet keeps current (a whole-folder mount; subPath mounts are never updated).
 * World-readable inside the sidecar's own mount because the sidecar runs as 1000 and
 * Secret files belong to root unless the pod sets an fsGroup, which is the pod's to choose.
 */
export function passwordVolume(secret: { name: string; key: string }): V1Volume {
  return {
    name: SIDECAR_PASSWORD_VOLUME,
    secret: {
      secretName: secret.name,
      items: [
        { key: secret.key, path: SIDECAR_PASSWORD_FILE.slice(SIDECAR_PASSWORD_DIR.length + 1) },
      ],
      defaultMode: 0o444,
    },
  };
}
