import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import {
  AGENT_IDENTITY_PATTERN,
  AGENT_LABEL,
  ANNOTATIONS,
  ENV,
  HEALTH_PORT_NAME,
  METRICS_PORT_NAME,
  SIDECAR_CONTAINER,
  SIDECAR_HOST,
  SIDECAR_PASSWORD_VOLUME,
  STATUS_INJECTED,
  agentIdentity,
  memoryApiUrl,
} from '../lib/contract.js';
import { PORT } from '../lib/env.js';
import { isIsolated, TENANT_SECRET, tenantPrefix } from '../lib/tenancy.js';
import type { InjectConfig } from './config.js';
import {
  passwordVolume,
  sidecarContainer,
  sidecarPasswordSecret,
  type SidecarPod,
} from './container.js';
import { followAgentUrl, type FollowChoice, type FollowedUrl } from './follow.js';
import type { PodNamespace } from './namespace.js';
import { applyOverrides, type SidecarSettings } from './overrides.js';
import { notLinux } from './platform.js';
import { fitResources } from './resources.js';
import { retentionEnv } from './retention.js';
import { formatStatus, type InjectionStatus } from './status.js';

export type SkipReason =
  | 'no-agent-label'
  | 'opted-out'
  | 'already-injected'
  | 'host-network'
  | 'not-linux'
  | 'namespace-unseen'
  | 'invalid-annotation'
  | 'resources';

/**
 * An RFC 6902 `add`, the only operation the webhook sends: it creates what is absent
 * and appends to arrays, so nothing a pod defines is replaced.
 */
export interface AddOperation {
  op: 'add';
  path: string;
  value: unknown;
}

export interface InjectResult {
  /** RFC 6902 operations against the pod; empty when skipped. */
  patch: AddOperation[];
  /**
   * `JSON.stringify(patch)`, the sidecar's part reused from an earlier pod like this one;
   * absent when skipped.
   */
  json?: string;
  /** Shown to the user by kubectl (AdmissionResponse.warnings). */
  warnings: string[];
  skipReason?: SkipReason;
  /**
   * The pod's namespace is isolated: it reads no shared password (its sidecar is the
   * tenant's, or follows the agent's own Redis), so none is copied there for it.
   */
  tenant?: boolean;
}

/**
 * The heart of the webhook: what to add to one pod. Pure: no I/O, no clock.
 * Per-pod overrides come from the pod's own annotations; what the namespace holds
 * (LimitRanges, ResourceQuotas, labels) comes in `namespace`, from the cluster view.
 */
export function inject(pod: V1Pod, config: InjectConfig, namespace?: PodNamespace): InjectResult {
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  if (!Object.hasOwn(labels, AGENT_LABEL)) return skip('no-agent-label');
  if (annotations[ANNOTATIONS.inject]?.toLowerCase() === 'false') return skip('opted-out');

  const containers = pod.spec?.containers ?? [];
  const initContainers = pod.spec?.initContainers ?? [];
  const allContainers = [...containers, ...initContainers];
  // The sidecar's name, or its password volume's, means an earlier pass was here.
  const hasSidecar =
    allContainers.some((c) => c.name === SIDECAR_CONTAINER) ||
    (pod.spec?.volumes ?? []).some((v) => v.name === SIDECAR_PASSWORD_VOLUME);
  const marked =
    annotations[ANNOTATIONS.status] !== undefined ||
    annotations[ANNOTATIONS.injected] !== undefined;
  if (marked || hasSidecar) return skip('already-injected');

  // On the node's network, 127.0.0.1:<port> is shared by every hostNetwork pod on the node.
  if (pod.spec?.hostNetwork === true) {
    return skip('host-network', [
      'kaos-memory: hostNetwork pods share the node loopback, so the memory sidecar was not injected',
    ]);
  }

  const platform = notLinux(pod);
  if (platform !== undefined) {
    return skip('not-linux', [
      `kaos-memory: ${platform}, and the memory sidecar is a Linux container; it was not injected`,
    ]);
  }

  if (namespace?.unseen) {
    // Its labels (isolation) and limits are unknown: injecting now could break either.
    return skip('namespace-unseen', [
      `kaos-memory: namespace ${namespace.name} is not yet known to the webhook; ` +
        'the pod was admitted without the memory sidecar (create it again to get one)',
    ]);
  }

  const chosen = podSettings(annotations, config, namespace);
  if ('patch' in chosen) return chosen;
  const { settings, retention } = chosen;
  const warnings: string[] = [...retention.warnings];

  const fitted = fitResources({
    desired: settings.resources,
    pod,
    native: config.nativeSidecar,
    namespace: namespace?.facts ?? { limitRanges: [], resourceQuotas: [] },
  });
  if (!fitted.ok) {
    return skip('resources', [
      `kaos-memory: the memory sidecar cannot fit ${fitted.problem}; ` +
        'the pod was admitted without it',
    ]);
  }
  if (fitted.changes.length > 0) {
    warnings.push(
      `kaos-memory: sidecar resources fitted to the namespace's LimitRanges and ResourceQuotas: ` +
        fitted.changes.join(', '),
    );
  }
  settings.resources = fitted.resources;

  // Containers share the pod's network namespace: a declared port is taken for the sidecar too.
  const port = placeApiPort(settings, declaredPorts(allContainers), warnings);
  if (typeof port !== 'number') return port;
  settings.port = port;

  // The ports on the pod IP move the same way, past the API port and each other.
  const metrics = placePodPort(
    METRICS_LISTENER,
    config.sidecarMetricsPort,
    allContainers,
    [settings.port],
    warnings,
  );
  const health = placePodPort(
    HEALTH_LISTENER,
    config.sidecarHealthPort,
    allContainers,
    [settings.port, metrics],
    warnings,
  );
  const podPorts = { metrics, health };

  // One history: the sidecar uses the Redis the agent names itself, if it does.
  const follow = followAgentUrl(containers, annotations);
  warnings.push(...follow.warnings);
  const identity = podIdentity(pod, namespace, warnings);
  // An isolated namespace: the sidecar is its tenant, app containers get no Redis credentials.
  const tenancy = isolatedTenant(config, pod, namespace, follow, warnings);
  const sidecarPod: SidecarPod = {
    ...followedEnv(follow),
    identity,
    tenant: tenancy.tenant !== undefined,
  };

  // What is added is also recorded in the status annotation, the first operation.
  const status: InjectionStatus = {
    version: config.version,
    initContainers: [],
    containers: [],
    env: {},
    ...followedStatus(follow),
  };
  const patch: AddOperation[] = [];

  containers.forEach((container, index) => {
    const additions = envDefaults(container.env ?? [], config, settings.port, {
      followed: follow.followed,
      identity,
      container: container.name,
      warnings,
      isolated: sidecarPod.tenant,
    });
    if (additions.length === 0) return;
    status.env[container.name] = additions.map((env) => env.name);
    const base = `/spec/containers/${index}/env`;
    if (container.env === undefined) patch.push({ op: 'add', path: base, value: additions });
    else for (const env of additions) patch.push({ op: 'add', path: `${base}/-`, value: env });
  });

  const sidecarConfig = {
    ...config,
    sidecarEnv: sidecarEnv(config, retention.env, tenancy.tenant),
  };
  const sidecar = sidecarContainer(sidecarConfig, settings, podPorts, sidecarPod);
  const sidecarJson = serializedSidecar(config, sidecar, [
    sidecarConfig.sidecarEnv,
    settings.image,
    settings.port,
    settings.resources,
    settings.readiness,
    metrics,
    health,
    sidecarPod,
  ]);
  let sidecarOp: AddOperation;
  if (config.nativeSidecar) {
    status.initContainers.push(SIDECAR_CONTAINER);
    // Last among init containers: mesh proxies and setup steps placed earlier keep their order.
    if (pod.spec?.initContainers === undefined)
      sidecarOp = { op: 'add', path: '/spec/initContainers', value: [sidecar] };
    else sidecarOp = { op: 'add', path: '/spec/initContainers/-', value: sidecar };
  } else {
    status.containers.push(SIDECAR_CONTAINER);
    sidecarOp = { op: 'add', path: '/spec/containers/-', value: sidecar };
    const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
    if (restartPolicy !== 'Always') {
      warnings.push(
        `kaos-memory: the sidecar is an ordinary container (native sidecars are off), so this ` +
          `restartPolicy ${restartPolicy} pod keeps running after its work is done`,
      );
    }
  }
  patch.push(sidecarOp);

  // A sidecar that follows the agent's Redis reads none of the chart's password; an
  // isolated namespace's reads its tenant Secret's.
  const secret = sidecarPasswordSecret(config, sidecarPod);
  if (secret) {
    status.volumes = [SIDECAR_PASSWORD_VOLUME];
    const volume = passwordVolume(secret);
    if (pod.spec?.volumes === undefined)
      patch.push({ op: 'add', path: '/spec/volumes', value: [volume] });
    else patch.push({ op: 'add', path: '/spec/volumes/-', value: volume });
  }

  // The contract's marker, and beside it the record of what was added.
  const added = {
    [ANNOTATIONS.status]: STATUS_INJECTED,
    [ANNOTATIONS.injected]: formatStatus(status),
  };
  // metadata exists: the agent label was found in it.
  patch.unshift(
    ...(pod.metadata?.annotations === undefined
      ? [{ op: 'add' as const, path: '/metadata/annotations', value: added }]
      : Object.entries(added).map(([name, value]) => ({
          op: 'add' as const,
          path: `/metadata/annotations/${escapePointer(name)}`,
          value,
        }))),
  );
  // The patch as JSON, op by op as JSON.stringify writes it, the sidecar's from the cache.
  const json = patch.map((op) => {
    if (op !== sidecarOp) return JSON.stringify(op);
    const value = Array.isArray(op.value) ? `[${sidecarJson}]` : sidecarJson;
    return `{"op":"add","path":${JSON.stringify(op.path)},"value":${value}}`;
  });
  return { patch, json: `[${json.join(',')}]`, warnings, ...tenantMark(tenancy) };
}

// The sidecar's JSON is most of a patch's, and pods alike get the same sidecar: serialized
// once per configuration (which is never changed once loaded) and per everything else it is
// made of, `inputs`. Bounded, as pods of many agents (each its own identity) can pass.
const SIDECAR_CACHE_MAX = 1024;
const sidecarCache = new WeakMap<InjectConfig, Map<string, string>>();

/** `JSON.stringify(sidecar)`, where `sidecar` was made from `config` and `inputs` alone. */
function serializedSidecar(config: InjectConfig, sidecar: V1Container, inputs: unknown[]): string {
  let cache = sidecarCache.get(config);
  if (cache === undefined) {
    cache = new Map();
    sidecarCache.set(config, cache);
  }
  const key = JSON.stringify(inputs);
  let json = cache.get(key);
  if (json === undefined) {
    json = JSON.stringify(sidecar);
    if (cache.size >= SIDECAR_CACHE_MAX) cache.clear();
    cache.set(key, json);
  }
  return json;
}

/** The result's mark that the pod's namespace is isolated (absent otherwise). */
function tenantMark(tenancy: { isolated: boolean }): Pick<InjectResult, 'tenant'> {
  return tenancy.isolated ? { tenant: true } : {};
}

/**
 * Whether the pod's namespace is isolated (labelled memory.kaos.tools/isolation=namespace,
 * or every namespace with INJECT_ISOLATION_DEFAULT=namespace), and its name as the tenant
 * when the sidecar uses the chart's Redis. A sidecar that follows the agent's own Redis uses
 * the agent's credentials and no tenant prefix: that Redis is the agent's, not the shared
 * store. Either way an isolated pod reads no shared password.
 */
function isolatedTenant(
  config: InjectConfig,
  pod: V1Pod,
  namespace: PodNamespace | undefined,
  follow: FollowChoice,
  warnings: string[],
): { isolated: boolean; tenant?: string } {
  if (config.isolateAll !== true && !isIsolated(namespace?.facts?.labels))
    return { isolated: false };
  const name = namespace?.name || pod.metadata?.namespace || '';
  if (!follow.followed) {
    if (config.tenantSecrets === undefined) {
      warnings.push(
        `kaos-memory: namespace ${name} is isolated, but no tenant controller runs ` +
          `(chart value isolation.enabled): the pod waits for the Secret ${TENANT_SECRET.name} ` +
          'until one is created (README, "Namespaces as tenants")',
      );
    }
    return { isolated: true, tenant: name };
  }
  warnings.push(
    `kaos-memory: namespace ${name} is isolated, but the sidecar follows the ${ENV.redisUrl} of ` +
      `${follow.followed.container} (the agent's own Redis, with its credentials, no tenant prefix)`,
  );
  return { isolated: true };
}

/** The sidecar's MEMORY_* settings: the chart's, the retention annotations', the tenant's prefix. */
function sidecarEnv(
  config: InjectConfig,
  retention: Record<string, string>,
  tenant: string | undefined,
): Record<string, string> {
  const env = { ...config.sidecarEnv, ...retention };
  if (tenant !== undefined) env[ENV.keyPrefix] = tenantPrefix(tenant);
  return env;
}

/**
 * The sidecar's settings from the pod's override annotations, and its retention from the
 * namespace's (and the pod's, where allowed); the skip when an annotation is invalid.
 */
function podSettings(
  annotations: Record<string, string>,
  config: InjectConfig,
  namespace: PodNamespace | undefined,
):
  | InjectResult
  | { settings: SidecarSettings; retention: { env: Record<string, string>; warnings: string[] } } {
  const overrides = applyOverrides(annotations, {
    image: config.sidecarImage,
    port: config.sidecarPort,
    resources: config.resources,
  });
  if (!overrides.ok) return skip('invalid-annotation', [overrides.warning]);
  const retention = retentionEnv(annotations, namespace);
  if (!retention.ok) return skip('invalid-annotation', [retention.warning]);
  return { settings: overrides.settings, retention };
}

/** What an app container's defaults depend on beyond the configuration. */
export interface PodDefaults {
  /** The app container's Redis the sidecar follows (webhook/follow.ts), if any. */
  followed?: FollowedUrl;
  /** The pod's AGENT_IDENTITY; absent when it has none (an empty agent label). */
  identity?: string;
  /** This container's name, and where to say what could not be added. */
  container?: string;
  warnings?: string[];
  /**
   * An isolated namespace's pod whose sidecar is the tenant: no Redis credentials, no
   * MEMORY_TYPE naming a Redis it cannot reach; MEMORY_API_URL and memory v2's endpoint only.
   */
  isolated?: boolean;
}

/**
 * The memory variables a container lacks, in an order where every `$(VAR)` reference
 * follows the variable it names. Defaults only: a name the container defines is left alone.
 * Both KAOS generations read their own: MEMORY_TYPE and MEMORY_REDIS_URL (Redis-era
 * `RedisMemory`), MEMORY_STORE_ENDPOINT and AGENT_IDENTITY (memory v2); each ignores the
 * other's (docs/adr/0033-two-kaos-generations.md).
 */
export function envDefaults(
  env: V1EnvVar[],
  config: InjectConfig,
  port: number,
  pod: PodDefaults = {},
): V1EnvVar[] {
  const defined = new Set(env.map((e) => e.name));
  const out: V1EnvVar[] = [];
  if (!pod.isolated) {
    if (!defined.has(ENV.memoryType)) out.push({ name: ENV.memoryType, value: config.memoryType });
    if (!defined.has(ENV.redisUrl)) out.push(...redisDefaults(defined, config, pod));
  }
  if (!defined.has(ENV.apiUrl)) out.push({ name: ENV.apiUrl, value: memoryApiUrl(port) });
  if (!defined.has(ENV.memoryStoreEndpoint))
    out.push({ name: ENV.memoryStoreEndpoint, value: memoryApiUrl(port) });
  if (pod.identity !== undefined && !defined.has(ENV.agentIdentity))
    out.push({ name: ENV.agentIdentity, value: pod.identity });
  return out;
}

/**
 * MEMORY_REDIS_URL for a container that has none: the Redis the sidecar follows (after the
 * entries it references; none when the container defines one of those itself), else the
 * chart's (after its password reference, when there is a password Secret).
 */
function redisDefaults(defined: Set<string>, config: InjectConfig, pod: PodDefaults): V1EnvVar[] {
  const out: V1EnvVar[] = [];
  if (pod.followed) {
    const needed = pod.followed.env.slice(0, -1);
    const own = needed.filter((e) => defined.has(e.name)).map((e) => e.name);
    if (own.length > 0) {
      // Its own definitions would expand the URL differently: better none than another Redis.
      pod.warnings?.push(
        `kaos-memory: container ${pod.container} defines ${own.join(', ')} itself, which the ` +
          `${ENV.redisUrl} of ${pod.followed.container} references; it gets no ${ENV.redisUrl}`,
      );
      return [];
    }
    return pod.followed.env.map((e) => structuredClone(e));
  }
  if (!config.passwordSecret) return [{ name: ENV.redisUrl, value: config.redisUrl }];
  if (!defined.has(ENV.redisPassword)) {
    const { name, key } = config.passwordSecret;
    out.push({ name: ENV.redisPassword, valueFrom: { secretKeyRef: { name, key } } });
  }
  out.push({ name: ENV.redisUrl, value: urlWithPasswordRef(config.redisUrl) });
  return out;
}

/** The env the sidecar copies from the app container it follows, if it follows one. */
function followedEnv(follow: FollowChoice): { redis?: V1EnvVar[] } {
  return follow.followed ? { redis: follow.followed.env } : {};
}

/** The status annotation's record of the Redis the sidecar follows, if it follows one. */
function followedStatus(follow: FollowChoice): Pick<InjectionStatus, 'redis'> {
  if (!follow.followed) return {};
  const others = follow.others.length > 0 ? { others: follow.others } : {};
  return { redis: { from: follow.followed.container, ...others } };
}

/**
 * The pod's AGENT_IDENTITY, `kaos://agent/<namespace>/<agent label value>`, or undefined
 * with a warning when the label is empty (the identity would name no agent).
 */
function podIdentity(pod: V1Pod, namespace: PodNamespace | undefined, warnings: string[]) {
  const agent = pod.metadata?.labels?.[AGENT_LABEL] ?? '';
  const ns = namespace?.name || pod.metadata?.namespace || '';
  const identity = agentIdentity(ns, agent);
  if (agent !== '' && AGENT_IDENTITY_PATTERN.test(identity)) return identity;
  warnings.push(
    agent === ''
      ? `kaos-memory: the ${AGENT_LABEL} label is empty, so the pod gets no ${ENV.agentIdentity}; ` +
          'memory v2 requests naming an agent are refused'
      : `kaos-memory: ${JSON.stringify(identity)} is not a KAOS agent identity, so the pod gets ` +
          `no ${ENV.agentIdentity}`,
  );
  return undefined;
}

/** `redis://[user@]host…` → `redis://[user]:$(MEMORY_REDIS_PASSWORD)@host…`, expanded by the kubelet. */
export function urlWithPasswordRef(url: string): string {
  const match = /^(rediss?(?:\+sentinel|\+cluster)?:\/\/)(?:([^@/:]*)@)?(.*)$/.exec(url);
  if (!match) return url;
  const [, scheme = '', user = '', rest = ''] = match;
  return `${scheme}${user}:$(${ENV.redisPassword})@${rest}`;
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The port the sidecar's API listens on, or the skip when the annotation's port is taken. */
function placeApiPort(
  settings: { port: number; portFromAnnotation?: boolean },
  taken: Set<number>,
  warnings: string[],
): number | InjectResult {
  if (!taken.has(settings.port)) return settings.port;
  if (settings.portFromAnnotation) {
    return skip('invalid-annotation', [
      `${ANNOTATIONS.port}: port ${settings.port} is already used by a container in this pod; ` +
        'the pod was admitted without the kaos-memory sidecar',
    ]);
  }
  const free = nextFreePort(settings.port, taken);
  if (free === undefined) {
    return skip('invalid-annotation', [
      `kaos-memory: no free port for the sidecar at or above ${settings.port}`,
    ]);
  }
  warnings.push(
    `kaos-memory: port ${settings.port} is used by a container in this pod; ` +
      `the sidecar listens on ${SIDECAR_HOST}:${free} and ${ENV.apiUrl} says so`,
  );
  return free;
}

/** A listener the sidecar opens on the pod IP: its port's name, what it does, what is lost without. */
interface PodListener {
  name: string;
  does: string;
  without: string;
}

const METRICS_LISTENER: PodListener = {
  name: METRICS_PORT_NAME,
  does: 'serves /metrics',
  without: 'the sidecar serves no metrics',
};
const HEALTH_LISTENER: PodListener = {
  name: HEALTH_PORT_NAME,
  does: "answers kubelet's probes",
  without: 'its probes run node in its container',
};

/**
 * The port a listener on the pod IP gets (0: none), moved past ports the pod declares
 * and the sidecar's own `taken`.
 */
function placePodPort(
  listener: PodListener,
  wanted: number,
  containers: V1Container[],
  taken: number[],
  warnings: string[],
): number {
  if (wanted === 0) return 0;
  let port = wanted;
  const busy = new Set([...declaredPorts(containers), ...taken]);
  if (busy.has(port)) {
    const free = nextFreePort(port, busy);
    warnings.push(
      free === undefined
        ? `kaos-memory: port ${port} is used in this pod and none above it is free; ` +
            listener.without
        : `kaos-memory: port ${port} is used in this pod; the sidecar ${listener.does} ` +
            `on port ${free} (${listener.name})`,
    );
    port = free ?? 0;
  }
  if (port !== 0 && declaredPortNames(containers).has(listener.name)) {
    warnings.push(
      `kaos-memory: a container already declares a port named ${listener.name}; ` +
        listener.without,
    );
    return 0;
  }
  return port;
}

function declaredPorts(containers: V1Container[]): Set<number> {
  const ports = new Set<number>();
  for (const container of containers)
    for (const port of container.ports ?? []) ports.add(port.containerPort);
  return ports;
}

function declaredPortNames(containers: V1Container[]): Set<string> {
  const names = new Set<string>();
  for (const container of containers)
    for (const port of container.ports ?? []) if (port.name) names.add(port.name);
  return names;
}

function nextFreePort(from: number, taken: Set<number>): number | undefined {
  for (let port = from + 1; port <= PORT.max; port++) if (!taken.has(port)) return port;
  return undefined;
}

function skip(reason: SkipReason, warnings: string[] = []): InjectResult {
  return { patch: [], warnings, skipReason: reason };
}
