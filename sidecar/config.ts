import { ConfigError, intEnv, optionalEnv, stringEnv } from '../lib/env.js';
import { parseRedisUrl, RedisUrlError, type RedisTopology } from '../lib/redis-url.js';

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
  bodyLimitBytes: number;
  redisTimeoutMs: number;
  shutdownTimeoutMs: number;
  agentName: string;
}

/** Reads the sidecar's environment once; throws ConfigError naming the bad variable. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  return {
    redis: redisTopology(env),
    redisPassword: optionalEnv(env, 'MEMORY_REDIS_PASSWORD'),
    redisSentinelPassword: optionalEnv(env, 'MEMORY_REDIS_SENTINEL_PASSWORD'),
    redisMinReplicas: intEnv(env, 'MEMORY_REDIS_MIN_REPLICAS', 0, 100, 0),
    maxReadBytes: intEnv(
      env,
      'MEMORY_MAX_READ_BYTES',
      64 * 1024,
      256 * 1024 * 1024,
      4 * 1024 * 1024,
    ),
    keyPrefix: stringEnv(env, 'MEMORY_KEY_PREFIX', {
      fallback: 'kaos:memory',
      check: [
        (v) => /^[A-Za-z0-9._~@:-]{1,128}$/.test(v),
        'must be 1-128 characters of letters, digits and ._~@:-',
      ],
    }),
    maxSessionEvents: intEnv(env, 'MEMORY_MAX_SESSION_EVENTS', 1, 100_000, 500),
    maxSessions: intEnv(env, 'MEMORY_MAX_SESSIONS', 1, 10_000_000, 1000),
    sessionTtlSeconds: intEnv(env, 'MEMORY_SESSION_TTL_SECONDS', 1, 31_536_000 * 10, 86_400),
    port: intEnv(env, 'MEMORY_SIDECAR_PORT', 1, 65_535, 8790),
    host: stringEnv(env, 'MEMORY_SIDECAR_HOST', { fallback: '127.0.0.1' }),
    bodyLimitBytes: intEnv(env, 'MEMORY_BODY_LIMIT_BYTES', 1024, 64 * 1024 * 1024, 1024 * 1024),
    redisTimeoutMs: intEnv(env, 'MEMORY_REDIS_TIMEOUT_MS', 50, 60_000, 2000),
    shutdownTimeoutMs: intEnv(env, 'MEMORY_SHUTDOWN_TIMEOUT_MS', 0, 300_000, 10_000),
    agentName: stringEnv(env, 'AGENT_NAME', {
      fallback: 'agent',
      check: [(v) => v.length <= 253, 'must be at most 253 characters'],
    }),
  };
}

function redisTopology(env: NodeJS.ProcessEnv): RedisTopology {
  const url = stringEnv(env, 'MEMORY_REDIS_URL', {
    required: 'is required (redis://, rediss://, redis+sentinel:// or redis+cluster://)',
  });
  try {
    return parseRedisUrl(url);
  } catch (err) {
    if (err instanceof RedisUrlError) throw new ConfigError(`MEMORY_REDIS_URL: ${err.message}`);
    throw err;
  }
}
