import { ENV, SIDECAR_HOST, SIDECAR_PORT } from '../lib/contract.js';
import { intEnv, optionalEnv, stringEnv } from '../lib/env.js';

export interface SidecarConfig {
  redisUrl: string;
  redisPassword: string | undefined;
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

const isRedisUrl = (v: string) => /^rediss?:\/\/[^\s]+$/.test(v) && URL.canParse(v);

/** Reads the sidecar's environment once; throws ConfigError naming the bad variable. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  return {
    redisUrl: stringEnv(env, ENV.redisUrl, {
      required: 'is required (redis:// or rediss://)',
      check: [isRedisUrl, 'must be a redis:// or rediss:// URL'],
    }),
    redisPassword: optionalEnv(env, ENV.redisPassword),
    keyPrefix: stringEnv(env, ENV.keyPrefix, {
      fallback: 'kaos:memory',
      check: [
        (v) => /^[A-Za-z0-9._~@:-]{1,128}$/.test(v),
        'must be 1-128 characters of letters, digits and ._~@:-',
      ],
    }),
    maxSessionEvents: intEnv(env, ENV.maxSessionEvents, 1, 100_000, 500),
    maxSessions: intEnv(env, ENV.maxSessions, 1, 10_000_000, 1000),
    sessionTtlSeconds: intEnv(env, ENV.sessionTtlSeconds, 1, 31_536_000 * 10, 86_400),
    port: intEnv(env, ENV.sidecarPort, 1, 65_535, SIDECAR_PORT),
    host: stringEnv(env, 'MEMORY_SIDECAR_HOST', { fallback: SIDECAR_HOST }),
    bodyLimitBytes: intEnv(env, 'MEMORY_BODY_LIMIT_BYTES', 1024, 64 * 1024 * 1024, 1024 * 1024),
    redisTimeoutMs: intEnv(env, 'MEMORY_REDIS_TIMEOUT_MS', 50, 60_000, 2000),
    shutdownTimeoutMs: intEnv(env, 'MEMORY_SHUTDOWN_TIMEOUT_MS', 0, 300_000, 10_000),
    agentName: stringEnv(env, ENV.agentName, {
      fallback: 'agent',
      check: [(v) => v.length <= 253, 'must be at most 253 characters'],
    }),
  };
}
