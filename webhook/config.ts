import { z } from 'zod';
import {
  ENV,
  SESSION_SETTINGS,
  SIDECAR_HEALTH_PORT,
  SIDECAR_METRICS_PORT,
  SIDECAR_NODE_OPTIONS,
  SIDECAR_PORT,
} from '../lib/contract.js';
import {
  ConfigError,
  InvalidValue,
  PORT,
  intEnv,
  listEnv,
  matches,
  oneOfEnv,
  optionalEnv,
  parsedEnv,
  stringEnv,
  type IntRule,
} from '../lib/env.js';
import { redisUrlEnv, type RedisTopology } from '../lib/redis-url.js';
import { FALLBACK_RESOURCES } from './resources.js';
import { webhookVersion } from './status.js';

/** A Kubernetes resource quantity, e.g. `10m`, `0.5`, `128Mi`, `1e3`. */
export const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;
/** An image reference: [registry[:port]/]path[:tag][@sha256:digest]. */
export const IMAGE =
  /^[a-z0-9]+(([.]|_{1,2}|-+)[a-z0-9]+)*(:\d+)?(\/[a-z0-9]+(([.]|_{1,2}|-+)[a-z0-9]+)*)*(:\w[\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

// The one structured value: zod checks its shape and names the field that is wrong.
const quantity = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 10m or 128Mi');
const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const resourcesSchema = z.strictObject({
  requests: resourceList.optional(),
  limits: resourceList.optional(),
});
export type Resources = z.infer<typeof resourcesSchema>;

/**
 * Sidecar resources when INJECT_SIDECAR_RESOURCES is unset. The memory limit leaves room for
 * the exec probes; the CPU limit is there for namespaces whose quota tracks limits.cpu.
 */
export const DEFAULT_RESOURCES: Resources = {
  requests: { ...FALLBACK_RESOURCES.requests },
  limits: { ...FALLBACK_RESOURCES.limits },
};

/** INJECT_SIDECAR_RESOURCES: JSON with the structure of {@link Resources}. */
function parseResources(text: string): Resources {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidValue('must be JSON like {"requests":{"cpu":"10m"}}');
  }
  const parsed = resourcesSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InvalidValue(`${issue?.path.join('.')}: ${issue?.message}`);
}

// Kubernetes names (RFC 1123), and what else a variable may hold.
const NAMESPACE = matches(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name');
const SERVICE = matches(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name');
const SECRET = matches(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Secret name');
const SECRET_KEY = matches(
  /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-._a-zA-Z0-9]+$/,
  'must be secret-name/key',
);
const MEMORY_TYPE = matches(/^[a-z][a-z0-9-]*$/, 'must be a memory type such as redis');
const IMAGE_REF = matches(IMAGE, 'must be an image reference');
const NODE_FLAGS = matches(
  /^--[a-z0-9-]+(=\S+)?( --[a-z0-9-]+(=\S+)?)*$/,
  'must be node flags such as --x=1 --y',
);

/** The webhook's HTTPS port when WEBHOOK_PORT is unset. */
const DEFAULT_PORT = 8443;

/** What the pure injection needs: no ports to listen on, no cluster access. */
export interface InjectConfig {
  memoryType: string;
  redisUrl: string;
  /** Where the Redis password lives, read by pods through secretKeyRef. */
  passwordSecret?: { name: string; key: string };
  sidecarImage: string;
  sidecarPort: number;
  /** The sidecar's metrics port on the pod IP, declared as a named port; 0 for none. */
  sidecarMetricsPort: number;
  /** The sidecar's health port on the pod IP, for kubelet's httpGet probes; 0: exec probes. */
  sidecarHealthPort: number;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: Resources;
  /** The sidecar's NODE_OPTIONS: how large its heap may grow (SIDECAR_NODE_OPTIONS). */
  nodeOptions: string;
  /** Whether to inject a native sidecar (an init container with restartPolicy Always). */
  nativeSidecar: boolean;
  /** Passed to the sidecar as MEMORY_* only when set. */
  sidecarEnv: Record<string, string>;
  /** This kaos-memory's version, recorded in the status annotation. */
  version: string;
  /**
   * INJECT_ISOLATION_DEFAULT=namespace: every namespace is isolated, not only those
   * labelled memory.kaos.tools/isolation=namespace (docs/adr/0036-namespaces-as-tenants.md).
   */
  isolateAll?: boolean;
  /**
   * Who makes an isolated namespace's Secret kaos-memory-tenant: this webhook's tenant
   * controller (managed), or the operator, checked by it (provided). Absent: no controller
   * runs, and an isolated pod waits for a Secret until someone creates it.
   */
  tenantSecrets?: 'managed' | 'provided';
}

/**
 * The webhook's copies of the password Secret (webhook/credentials.ts): from its own
 * namespace into each namespace where it injects a pod, kept in sync, removed when unused.
 */
export interface CredentialCopyConfig {
  /** How often the copies are brought in line with the source and with the pods. */
  syncIntervalMs: number;
  /** How long a copy no pod uses is kept before it is deleted. */
  unusedGraceMs: number;
}

/** The tenant controller (webhook/tenants.ts), when WEBHOOK_TENANTS is managed or provided. */
export interface TenantControllerConfig {
  mode: 'managed' | 'provided';
  syncIntervalMs: number;
  /** managed: the Redis (INJECT_REDIS_URL's) as its admin user, whose password is in a file. */
  redis?: { topology: RedisTopology; passwordFile: string };
}

export interface WebhookConfig {
  port: number;
  host: string;
  tlsDir?: string;
  namespace: string;
  serviceName: string;
  certSecret: string;
  webhookConfigName: string;
  certHosts: string[];
  nativeSidecar: 'auto' | 'true' | 'false';
  /** How long a stopping webhook keeps answering while the API server learns it is gone. */
  drainSeconds: number;
  /** Watch namespaces, LimitRanges and ResourceQuotas (webhook/cluster-view.ts). */
  clusterView: boolean;
  /** Set when INJECT_REDIS_PASSWORD_COPY is true (it needs INJECT_REDIS_PASSWORD_SECRET). */
  credentials?: CredentialCopyConfig;
  tenants?: TenantControllerConfig;
  inject: Omit<InjectConfig, 'nativeSidecar'>;
}

/**
 * Parse the webhook's environment once. `serviceAccountNamespace` is the pod's own
 * namespace (read by the caller from the service-account mount), the default for
 * WEBHOOK_NAMESPACE. Variables are read in the order of the README's table, so of two
 * problems the one listed first is reported.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  serviceAccountNamespace?: string,
): WebhookConfig {
  const port = intEnv(env, 'WEBHOOK_PORT', { ...PORT, fallback: DEFAULT_PORT });
  const host = stringEnv(env, 'WEBHOOK_HOST', { fallback: '0.0.0.0' });
  const tlsDir = optionalEnv(env, 'WEBHOOK_TLS_DIR');
  const namespace = optionalEnv(env, 'WEBHOOK_NAMESPACE', NAMESPACE);
  const serviceName = stringEnv(env, 'WEBHOOK_SERVICE_NAME', {
    fallback: 'kaos-memory-webhook',
    checks: [SERVICE],
  });
  const certSecret = optionalEnv(env, 'WEBHOOK_CERT_SECRET', SECRET);
  const webhookConfigName = stringEnv(env, 'WEBHOOK_CONFIG_NAME', { fallback: 'kaos-memory' });
  const certHosts = listEnv(env, 'WEBHOOK_CERT_HOSTS');
  const drainSeconds = intEnv(env, 'WEBHOOK_DRAIN_SECONDS', { min: 0, max: 300, fallback: 5 });
  const clusterView = oneOfEnv(env, 'WEBHOOK_CLUSTER_VIEW', ['true', 'false'], 'true');
  const memoryType = stringEnv(env, 'INJECT_MEMORY_TYPE', {
    fallback: 'redis',
    checks: [MEMORY_TYPE],
  });
  const { url: redisUrl, topology: redis } = redisUrlEnv(env, 'INJECT_REDIS_URL');
  const passwordRef = optionalEnv(env, 'INJECT_REDIS_PASSWORD_SECRET', SECRET_KEY);
  const copyPassword = oneOfEnv(env, 'INJECT_REDIS_PASSWORD_COPY', ['true', 'false'], 'false');
  const syncSeconds = intEnv(env, 'INJECT_REDIS_PASSWORD_SYNC_SECONDS', {
    min: 1,
    max: 3600,
    fallback: 30,
  });
  const unusedSeconds = intEnv(env, 'INJECT_REDIS_PASSWORD_UNUSED_SECONDS', {
    min: 1,
    max: 7 * 24 * 3600,
    fallback: 300,
  });
  const sidecarImage = stringEnv(env, 'INJECT_SIDECAR_IMAGE', { checks: [IMAGE_REF] });
  const sidecarPort = intEnv(env, 'INJECT_SIDECAR_PORT', { ...PORT, fallback: SIDECAR_PORT });
  const sidecarMetricsPort = intEnv(env, 'INJECT_SIDECAR_METRICS_PORT', {
    min: 0,
    max: PORT.max,
    fallback: SIDECAR_METRICS_PORT,
  });
  const sidecarHealthPort = intEnv(env, 'INJECT_SIDECAR_HEALTH_PORT', {
    min: 0,
    max: PORT.max,
    fallback: SIDECAR_HEALTH_PORT,
  });
  const nativeSidecar = oneOfEnv(env, 'INJECT_NATIVE_SIDECAR', ['auto', 'true', 'false'], 'auto');
  const resources = parsedEnv(env, 'INJECT_SIDECAR_RESOURCES', parseResources);
  const nodeOptions = stringEnv(env, 'INJECT_SIDECAR_NODE_OPTIONS', {
    fallback: SIDECAR_NODE_OPTIONS,
    checks: [NODE_FLAGS],
  });
  const isolation = oneOfEnv(env, 'INJECT_ISOLATION_DEFAULT', ['shared', 'namespace'], 'shared');
  const imagePullPolicy = oneOfEnv(
    env,
    'INJECT_IMAGE_PULL_POLICY',
    ['Always', 'IfNotPresent', 'Never'],
    'IfNotPresent',
  );

  // Passed on as the sidecar's MEMORY_* only when set, checked by the sidecar's own rules.
  const { keyPrefix, maxSessionEvents, maxSessions, sessionTtlSeconds, minReplicas } =
    SESSION_SETTINGS;
  const sidecarEnv: Record<string, string> = {};
  const pass = (name: string, value: string | number | undefined) => {
    if (value !== undefined) sidecarEnv[name] = String(value);
  };
  pass(ENV.keyPrefix, optionalEnv(env, 'INJECT_KEY_PREFIX', ...keyPrefix.checks));
  pass(ENV.maxSessionEvents, intEnv(env, 'INJECT_MAX_SESSION_EVENTS', bounds(maxSessionEvents)));
  pass(ENV.maxSessions, intEnv(env, 'INJECT_MAX_SESSIONS', bounds(maxSessions)));
  pass(ENV.sessionTtlSeconds, intEnv(env, 'INJECT_SESSION_TTL_SECONDS', bounds(sessionTtlSeconds)));
  pass(ENV.minReplicas, intEnv(env, 'INJECT_MIN_REPLICAS', bounds(minReplicas)));

  const tenants = tenantConfig(env, redis);

  let passwordSecret: InjectConfig['passwordSecret'];
  if (passwordRef !== undefined) {
    const [name = '', key = ''] = passwordRef.split('/');
    passwordSecret = { name, key };
    if (redis.password !== undefined) {
      throw new ConfigError(
        'INJECT_REDIS_URL: must not hold a password when INJECT_REDIS_PASSWORD_SECRET is set',
      );
    }
  } else if (copyPassword === 'true') {
    throw new ConfigError(
      'INJECT_REDIS_PASSWORD_COPY: needs INJECT_REDIS_PASSWORD_SECRET (the Secret to copy)',
    );
  }

  return {
    port,
    host,
    tlsDir,
    namespace: namespace ?? serviceAccountNamespace?.trim() ?? 'default',
    serviceName,
    certSecret: certSecret ?? `${serviceName}-certs`,
    webhookConfigName,
    certHosts,
    drainSeconds,
    clusterView: clusterView === 'true',
    nativeSidecar,
    ...(tenants ? { tenants } : {}),
    ...(copyPassword === 'true'
      ? {
          credentials: {
            syncIntervalMs: syncSeconds * 1000,
            unusedGraceMs: unusedSeconds * 1000,
          },
        }
      : {}),
    inject: {
      memoryType,
      redisUrl,
      passwordSecret,
      sidecarImage,
      sidecarPort,
      sidecarMetricsPort,
      sidecarHealthPort,
      imagePullPolicy,
      resources: resources ?? DEFAULT_RESOURCES,
      nodeOptions,
      sidecarEnv,
      version: webhookVersion(),
      ...(isolation === 'namespace' ? { isolateAll: true } : {}),
      ...(tenants ? { tenantSecrets: tenants.mode } : {}),
    },
  };
}

/** A rule's bounds without its fallback: an unset INJECT_* value is not passed on at all. */
function bounds(rule: IntRule): IntRule {
  return { min: rule.min, max: rule.max };
}

/**
 * WEBHOOK_TENANTS: off (default), managed (users on the bundled Redis, as the admin user
 * WEBHOOK_TENANT_REDIS_USER whose password is the file WEBHOOK_TENANT_REDIS_PASSWORD_FILE),
 * or provided (only checks the Secrets you make).
 */
function tenantConfig(
  env: NodeJS.ProcessEnv,
  topology: RedisTopology,
): TenantControllerConfig | undefined {
  const mode = oneOfEnv(env, 'WEBHOOK_TENANTS', ['off', 'managed', 'provided'], 'off');
  if (mode === 'off') return undefined;
  const syncSeconds = intEnv(env, 'WEBHOOK_TENANT_SYNC_SECONDS', {
    min: 1,
    max: 3600,
    fallback: 30,
  });
  if (mode === 'provided') return { mode, syncIntervalMs: syncSeconds * 1000 };
  const username = stringEnv(env, 'WEBHOOK_TENANT_REDIS_USER', { fallback: 'kaos-admin' });
  const passwordFile = stringEnv(env, 'WEBHOOK_TENANT_REDIS_PASSWORD_FILE', {
    required: 'is required when WEBHOOK_TENANTS is managed',
  });
  return {
    mode,
    syncIntervalMs: syncSeconds * 1000,
    redis: { topology: { ...topology, username }, passwordFile },
  };
}
