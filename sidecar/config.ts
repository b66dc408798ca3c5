import {
  ENV,
  SESSION_SETTINGS,
  SIDECAR_HOST,
  SIDECAR_METRICS_PORT,
  SIDECAR_PORT,
} from '../lib/contract.js';
import { ConfigError, PORT, intEnv, optionalEnv, stringEnv } from '../lib/env.js';
import { redisUrlEnv, type RedisTopology } from '../lib/redis-url.js';

export interface SidecarConfig {
  redis: RedisTopology;
  redisPassword: string | undefined;
  redisSentinelPassword: string | undefined;
  /** Replicas that must confirm each write (WAIT); 0 for none. */
  redisMinReplicas: number;
  /** The bytes of stored events one response carries at most. */
  maxReadBytes: number;
  keyPrefix: string;
  maxSessionEvents: number;
  maxSessions: number;
  sessionTtlSeconds: number;
  port: number;
  host: string;
  /** GET /metrics on every interface at this port; 0 for none. */
  metricsPort: number;
  bodyLimitBytes: number;
  redisTimeoutMs: number;
  shutdownTimeoutMs: number;
  agentName: string;
}

// A Kubernetes object name's limit; AGENT_NAME usually comes from a label (at most 63).
const MAX_NAME_LENGTH = 253;

/** Reads the sidecar's environment once; throws ConfigError naming the bad variable. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const config: SidecarConfig = {
    redis: redisUrlEnv(env, ENV.redisUrl).topology,
    redisPassword: optionalEnv(env, ENV.redisPassword),
    redisSentinelPassword: optionalEnv(env, 'MEMORY_REDIS_SENTINEL_PASSWORD'),
    redisMinReplicas: intEnv(env, ENV.minReplicas, SESSION_SETTINGS.minReplicas),
    maxReadBytes: intEnv(env, 'MEMORY_MAX_READ_BYTES', {
      min: 64 * 1024,
      max: 256 * 1024 * 1024,
      fallback: 4 * 1024 * 1024,
    }),
    keyPrefix: stringEnv(env, ENV.keyPrefix, SESSION_SETTINGS.keyPrefix),
    maxSessionEvents: intEnv(env, ENV.maxSessionEvents, SESSION_SETTINGS.maxSessionEvents),
    maxSessions: intEnv(env, ENV.maxSessions, SESSION_SETTINGS.maxSessions),
    sessionTtlSeconds: intEnv(env, ENV.sessionTtlSeconds, SESSION_SETTINGS.sessionTtlSeconds),
    port: intEnv(env, ENV.sidecarPort, { ...PORT, fallback: SIDECAR_PORT }),
    host: stringEnv(env, 'MEMORY_SIDECAR_HOST', { fallback: SIDECAR_HOST }),
    metricsPort: intEnv(env, ENV.metricsPort, {
      min: 0,
      max: PORT.max,
      fallback: SIDECAR_METRICS_PORT,
    }),
    bodyLimitBytes: intEnv(env, 'MEMORY_BODY_LIMIT_BYTES', {
      min: 1024,
      max: 64 * 1024 * 1024,
      fallback: 1024 * 1024,
    }),
    redisTimeoutMs: intEnv(env, 'MEMORY_REDIS_TIMEOUT_MS', {
      min: 50,
      max: 60_000,
      fallback: 2000,
    }),
    shutdownTimeoutMs: intEnv(env, 'MEMORY_SHUTDOWN_TIMEOUT_MS', {
      min: 0,
      max: 300_000,
      fallback: 10_000,
    }),
    agentName: stringEnv(env, ENV.agentName, {
      fallback: 'agent',
      checks: [
        [(v) => v.length <= MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`],
      ],
    }),
  };
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError(
      `${ENV.metricsPort}: must differ from ${ENV.sidecarPort} (${config.port})`,
    );
  }
  return config;
}
