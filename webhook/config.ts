import { z } from 'zod';
import { ConfigError, intVar, parseEnv } from '../lib/config.js';
import { ENV, SIDECAR_NODE_OPTIONS, SIDECAR_PORT } from '../lib/contract.js';

/** A Kubernetes resource quantity, e.g. `10m`, `0.5`, `128Mi`, `1e3`. */
export const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;
/** An image reference: [registry[:port]/]path[:tag][@sha256:digest]. */
export const IMAGE =
  /^[a-z0-9]+(([.]|_{1,2}|-+)[a-z0-9]+)*(:\d+)?(\/[a-z0-9]+(([.]|_{1,2}|-+)[a-z0-9]+)*)*(:\w[\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

const quantity = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 10m or 128Mi');
const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const resourcesSchema = z.strictObject({
  requests: resourceList.optional(),
  limits: resourceList.optional(),
});
export type Resources = z.infer<typeof resourcesSchema>;

/** Sidecar resources when INJECT_SIDECAR_RESOURCES is unset; the limit leaves room for the exec probes. */
export const DEFAULT_RESOURCES: Resources = {
  requests: { cpu: '10m', memory: '64Mi' },
  limits: { memory: '256Mi' },
};

const resourcesJson = z.string().transform((text, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON like {"requests":{"cpu":"10m"}}' });
    return z.NEVER;
  }
  const parsed = resourcesSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    ctx.addIssue({ code: 'custom', message: `${issue?.path.join('.')}: ${issue?.message}` });
    return z.NEVER;
  }
  return parsed.data;
});

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
  .refine((s) => URL.canParse(s), 'must be a valid URL');

const hostList = z.string().transform((s) =>
  s
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== ''),
);

const schema = z.object({
  WEBHOOK_PORT: intVar(1, 65535).default(8443),
  WEBHOOK_HOST: z.string().default('0.0.0.0'),
  WEBHOOK_TLS_DIR: z.string().optional(),
  WEBHOOK_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .optional(),
  WEBHOOK_SERVICE_NAME: z
    .string()
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name')
    .default('kaos-memory-webhook'),
  WEBHOOK_CERT_SECRET: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Secret name')
    .optional(),
  WEBHOOK_CONFIG_NAME: z.string().min(1).default('kaos-memory'),
  WEBHOOK_CERT_HOSTS: hostList.default([]),
  INJECT_MEMORY_TYPE: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, 'must be a memory type such as redis')
    .default('redis'),
  INJECT_REDIS_URL: redisUrl,
  INJECT_REDIS_PASSWORD_SECRET: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-._a-zA-Z0-9]+$/, 'must be secret-name/key')
    .optional(),
  INJECT_SIDECAR_IMAGE: z.string().regex(IMAGE, 'must be an image reference'),
  INJECT_SIDECAR_PORT: intVar(1, 65535).default(SIDECAR_PORT),
  INJECT_NATIVE_SIDECAR: z
    .enum(['auto', 'true', 'false'], { message: 'must be auto, true or false' })
    .default('auto'),
  INJECT_SIDECAR_RESOURCES: resourcesJson.optional(),
  INJECT_IMAGE_PULL_POLICY: z
    .enum(['Always', 'IfNotPresent', 'Never'], { message: 'must be Always, IfNotPresent or Never' })
    .default('IfNotPresent'),
  INJECT_SIDECAR_NODE_OPTIONS: z
    .string()
    .regex(/^--[a-z0-9-]+(=\S+)?( --[a-z0-9-]+(=\S+)?)*$/, 'must be node flags such as --x=1 --y')
    .default(SIDECAR_NODE_OPTIONS),
  INJECT_KEY_PREFIX: z.string().optional(),
  INJECT_MAX_SESSION_EVENTS: intVar(1, 1_000_000).optional(),
  INJECT_MAX_SESSIONS: intVar(1, 100_000_000).optional(),
  INJECT_SESSION_TTL_SECONDS: intVar(1, 365 * 24 * 3600 * 10).optional(),
});

/** What the pure injection needs: no ports to listen on, no cluster access. */
export interface InjectConfig {
  memoryType: string;
  redisUrl: string;
  /** Where the Redis password lives, read by pods through secretKeyRef. */
  passwordSecret?: { name: string; key: string };
  sidecarImage: string;
  sidecarPort: number;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: Resources;
  /** The sidecar's NODE_OPTIONS: how large its heap may grow (SIDECAR_NODE_OPTIONS). */
  nodeOptions: string;
  /** Whether to inject a native sidecar (an init container with restartPolicy Always). */
  nativeSidecar: boolean;
  /** Passed to the sidecar as MEMORY_* only when set. */
  sidecarEnv: Record<string, string>;
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
  inject: Omit<InjectConfig, 'nativeSidecar'>;
}

/**
 * Parse the webhook's environment once. `serviceAccountNamespace` is the pod's own
 * namespace (read by the caller from the service-account mount), the default for
 * WEBHOOK_NAMESPACE.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  serviceAccountNamespace?: string,
): WebhookConfig {
  const e = parseEnv(schema, env);
  let passwordSecret: InjectConfig['passwordSecret'];
  if (e.INJECT_REDIS_PASSWORD_SECRET) {
    const [name = '', key = ''] = e.INJECT_REDIS_PASSWORD_SECRET.split('/');
    passwordSecret = { name, key };
    if (new URL(e.INJECT_REDIS_URL).password !== '') {
      throw new ConfigError(
        'INJECT_REDIS_URL: must not hold a password when INJECT_REDIS_PASSWORD_SECRET is set',
      );
    }
  }
  const sidecarEnv: Record<string, string> = {};
  if (e.INJECT_KEY_PREFIX !== undefined) sidecarEnv[ENV.keyPrefix] = e.INJECT_KEY_PREFIX;
  if (e.INJECT_MAX_SESSION_EVENTS !== undefined)
    sidecarEnv[ENV.maxSessionEvents] = String(e.INJECT_MAX_SESSION_EVENTS);
  if (e.INJECT_MAX_SESSIONS !== undefined)
    sidecarEnv[ENV.maxSessions] = String(e.INJECT_MAX_SESSIONS);
  if (e.INJECT_SESSION_TTL_SECONDS !== undefined)
    sidecarEnv[ENV.sessionTtlSeconds] = String(e.INJECT_SESSION_TTL_SECONDS);

  return {
    port: e.WEBHOOK_PORT,
    host: e.WEBHOOK_HOST,
    tlsDir: e.WEBHOOK_TLS_DIR,
    namespace: e.WEBHOOK_NAMESPACE ?? serviceAccountNamespace?.trim() ?? 'default',
    serviceName: e.WEBHOOK_SERVICE_NAME,
    certSecret: e.WEBHOOK_CERT_SECRET ?? `${e.WEBHOOK_SERVICE_NAME}-certs`,
    webhookConfigName: e.WEBHOOK_CONFIG_NAME,
    certHosts: e.WEBHOOK_CERT_HOSTS,
    nativeSidecar: e.INJECT_NATIVE_SIDECAR,
    inject: {
      memoryType: e.INJECT_MEMORY_TYPE,
      redisUrl: e.INJECT_REDIS_URL,
      passwordSecret,
      sidecarImage: e.INJECT_SIDECAR_IMAGE,
      sidecarPort: e.INJECT_SIDECAR_PORT,
      imagePullPolicy: e.INJECT_IMAGE_PULL_POLICY,
      resources: e.INJECT_SIDECAR_RESOURCES ?? DEFAULT_RESOURCES,
      nodeOptions: e.INJECT_SIDECAR_NODE_OPTIONS,
      sidecarEnv,
    },
  };
}
