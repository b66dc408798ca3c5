// The names both deployables share with each other and with users' pods: the webhook
// writes them, the sidecar (or the agent) reads them. They are part of the contract
// (README, "Development": names, environment, routes, Redis layout): changing one here
// is a breaking change.
// Only the tiny env reader is imported, so the sidecar pays next to nothing for it.
import { matches } from './env.js';

/** The pod label that opts a pod in (any value, even empty); its value names the agent. */
export const AGENT_LABEL = 'agent';

/** Every pod annotation the webhook reads or writes. */
export const ANNOTATIONS = {
  /** `"false"` opts the pod out. */
  inject: 'memory.kaos.tools/inject',
  /** Written by the webhook: `injected`. Its presence means "already injected". */
  status: 'memory.kaos.tools/status',
  /**
   * Written by the webhook beside `status`: JSON recording what it added (version,
   * containers, env), so an upgrade or an un-injection knows what is its own.
   */
  injected: 'memory.kaos.tools/injected',
  image: 'memory.kaos.tools/sidecar-image',
  port: 'memory.kaos.tools/sidecar-port',
  cpuRequest: 'memory.kaos.tools/sidecar-cpu-request',
  cpuLimit: 'memory.kaos.tools/sidecar-cpu-limit',
  memoryRequest: 'memory.kaos.tools/sidecar-memory-request',
  memoryLimit: 'memory.kaos.tools/sidecar-memory-limit',
  /**
   * The sidecar's readiness probe `periodSeconds` and `failureThreshold` (10 and 3 by
   * default), as Istio's `readiness.status.sidecar.istio.io/*`: shorter marks the pod not
   * ready sooner when Redis goes away.
   */
  readinessPeriodSeconds: 'memory.kaos.tools/readiness-period-seconds',
  readinessFailureThreshold: 'memory.kaos.tools/readiness-failure-threshold',
  /**
   * The app container whose own MEMORY_REDIS_URL the sidecar uses, when several define
   * one; by default the first in spec order (docs/adr/0033-two-kaos-generations.md).
   */
  redisUrlFrom: 'memory.kaos.tools/redis-url-from',
  /**
   * Retention, on the namespace (and on the pod where the namespace allows it:
   * {@link ANNOTATIONS.retentionOverridable}); each becomes the sidecar's MEMORY_* of the
   * same name (webhook/retention.ts, docs/adr/0036-namespaces-as-tenants.md).
   */
  sessionTtlSeconds: 'memory.kaos.tools/session-ttl-seconds',
  maxSessionEvents: 'memory.kaos.tools/max-session-events',
  maxSessions: 'memory.kaos.tools/max-sessions',
  idleCloseSeconds: 'memory.kaos.tools/idle-close-seconds',
  /** On the namespace: `"true"` lets its pods' retention annotations override its own. */
  retentionOverridable: 'memory.kaos.tools/retention-overridable',
} as const;

/** The value of the status annotation. */
export const STATUS_INJECTED = 'injected';

/** The injected sidecar container's name. */
export const SIDECAR_CONTAINER = 'kaos-memory';
/** The sidecar listens on loopback only: its API is for the pod's own containers. */
export const SIDECAR_HOST = '127.0.0.1';
export const SIDECAR_PORT = 8790;
/**
 * The sidecar's second listener, on every interface, serving only GET /metrics so
 * Prometheus can scrape the pod IP; 0 turns it off. Declared on the injected container
 * as the named port {@link METRICS_PORT_NAME}, which the chart's PodMonitor selects.
 */
export const SIDECAR_METRICS_PORT = 9790;
export const METRICS_PORT_NAME = 'memory-metrics';
/**
 * The sidecar's health listener, on every interface, serving only GET /healthz and /readyz,
 * where kubelet's httpGet probes reach it on the pod IP (as Istio's status port does): an
 * exec probe starts a node in the container every time. The webhook injects it (9791,
 * named {@link HEALTH_PORT_NAME}); the sidecar itself opens it only when told (0: none).
 */
export const SIDECAR_HEALTH_PORT = 9791;
export const HEALTH_PORT_NAME = 'memory-health';

/**
 * The identity a memory v2 agent presents (KAOS's operator form): the pod's namespace
 * and its `agent` label's value, each a Kubernetes name or label value.
 */
export const AGENT_IDENTITY_PATTERN =
  /^kaos:\/\/agent\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function agentIdentity(namespace: string, agent: string): string {
  return `kaos://agent/${namespace}/${agent}`;
}

/** What an app container calls the sidecar at. */
export function memoryApiUrl(port: number): string {
  return `http://${SIDECAR_HOST}:${port}`;
}

/** The variables the webhook writes into a pod and the sidecar or the agent reads. */
export const ENV = {
  /** App containers: the memory backend KAOS agents use (`redis`). */
  memoryType: 'MEMORY_TYPE',
  /** App containers and the sidecar: where Redis is. */
  redisUrl: 'MEMORY_REDIS_URL',
  /** App containers and the sidecar, from a Secret when one is configured. */
  redisPassword: 'MEMORY_REDIS_PASSWORD',
  /**
   * The sidecar: a file holding the password (the Secret mounted as a volume), re-read
   * when the kubelet updates it, so a rotated password reaches a running sidecar.
   */
  redisPasswordFile: 'MEMORY_REDIS_PASSWORD_FILE',
  /** App containers: the sidecar's URL. */
  apiUrl: 'MEMORY_API_URL',
  /** The sidecar: its port on 127.0.0.1. */
  sidecarPort: 'MEMORY_SIDECAR_PORT',
  /** The sidecar: its metrics port on every interface (0: none). */
  metricsPort: 'MEMORY_METRICS_PORT',
  /** The sidecar: its health (probe) port on every interface (0: none). */
  healthPort: 'MEMORY_HEALTH_PORT',
  keyPrefix: 'MEMORY_KEY_PREFIX',
  maxSessionEvents: 'MEMORY_MAX_SESSION_EVENTS',
  maxSessions: 'MEMORY_MAX_SESSIONS',
  sessionTtlSeconds: 'MEMORY_SESSION_TTL_SECONDS',
  /** The sidecar: a session with no write for this long gets one session_closed event; 0: never. */
  idleCloseSeconds: 'MEMORY_IDLE_CLOSE_SECONDS',
  /** The sidecar: the Redis ACL user it authenticates as (an isolated namespace's tenant user). */
  redisUsername: 'MEMORY_REDIS_USERNAME',
  /** The sidecar: replicas that must confirm each write (WAIT) before it is acknowledged. */
  minReplicas: 'MEMORY_REDIS_MIN_REPLICAS',
  /** The sidecar: the agent's name, from the pod's `agent` label. */
  agentName: 'AGENT_NAME',
  /** The sidecar: its runtime's flags, {@link SIDECAR_NODE_OPTIONS} by default. */
  nodeOptions: 'NODE_OPTIONS',
  /** App containers and the sidecar: the pod's agent, `kaos://agent/<namespace>/<agent>` (memory v2). */
  agentIdentity: 'AGENT_IDENTITY',
  /** App containers: where a KAOS memory v2 agent calls its memory service (the sidecar). */
  memoryStoreEndpoint: 'MEMORY_STORE_ENDPOINT',
  /** The sidecar (memory v2): tokens of the short-term window when a recall names none. */
  shortTermTokenBudget: 'MEMORY_SHORT_TERM_TOKEN_BUDGET',
} as const;

/**
 * The sidecar's default NODE_OPTIONS, which V8 reads only at start: 2 MiB semi-spaces
 * (V8 grows them to 16 MiB on a big machine) and one GC helper thread instead of one per
 * core (the sidecar shares its pod's CPU). Measurements: docs/decisions.md, "The
 * sidecar's memory"; the rest of the sizing is sidecar/runtime.ts.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --v8-pool-size=1';

/**
 * The webhook's NODE_OPTIONS (the chart's default): an old space well inside its 256Mi limit,
 * so V8 collects before the container is OOM-killed rather than growing to its default
 * (a quarter of the node's memory); bench/controller.ts measures a credentials round under it.
 */
export const WEBHOOK_NODE_OPTIONS =
  '--max-old-space-size=64 --max-semi-space-size=2 --v8-pool-size=1';

/**
 * The sidecar's session settings: their defaults (the contract's) and bounds. The webhook
 * checks the INJECT_* values it passes on as these MEMORY_* with the same rules, so a value
 * it accepts never stops a sidecar at start.
 */
export const SESSION_SETTINGS = {
  keyPrefix: {
    fallback: 'kaos:memory',
    checks: [
      matches(
        /^[A-Za-z0-9._~@:-]{1,128}$/,
        'must be 1-128 characters of letters, digits and ._~@:-',
      ),
    ],
  },
  maxSessionEvents: { min: 1, max: 100_000, fallback: 500 },
  maxSessions: { min: 1, max: 10_000_000, fallback: 1000 },
  sessionTtlSeconds: { min: 1, max: 10 * 365 * 24 * 3600, fallback: 86_400 },
  idleCloseSeconds: { min: 0, max: 10 * 365 * 24 * 3600, fallback: 0 },
  minReplicas: { min: 0, max: 100, fallback: 0 },
} as const;

/**
 * The Redis password as the sidecar reads it: the pod's copy of the password Secret,
 * mounted (only the one key, as {@link SIDECAR_PASSWORD_FILE}) into the sidecar alone.
 * A whole-folder mount, never subPath: the kubelet then swaps in a changed Secret.
 */
export const SIDECAR_PASSWORD_VOLUME = 'kaos-memory-redis-password';
export const SIDECAR_PASSWORD_DIR = '/var/run/secrets/kaos-memory/redis';
export const SIDECAR_PASSWORD_FILE = `${SIDECAR_PASSWORD_DIR}/password`;

/**
 * The labels and annotations on the copies of the password Secret the webhook keeps in
 * agent namespaces. `managed-by` and `webhook` (the MutatingWebhookConfiguration that owns
 * the copy) mark a Secret as the webhook's own: it updates and deletes nothing else.
 */
export const CREDENTIAL_COPY = {
  managedByLabel: 'app.kubernetes.io/managed-by',
  managedBy: 'kaos-memory-webhook',
  webhookLabel: 'memory.kaos.tools/webhook',
  /** `namespace/name` of the Secret it copies. */
  sourceAnnotation: 'memory.kaos.tools/copied-from',
  /** When the webhook first saw no pod using the copy; it is deleted after a grace period. */
  unusedSinceAnnotation: 'memory.kaos.tools/unused-since',
} as const;
