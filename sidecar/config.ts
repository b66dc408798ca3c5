import { z } from 'zod';
import { intVar, parseEnv } from '../lib/config.js';

const schema = z.object({
  MEMORY_REDIS_URL: z
    .string({ message: 'is required (redis:// or rediss://)' })
    .refine((v) => /^rediss?:\/\/[^\s]+$/.test(v) && URL.canParse(v), {
      message: 'must be a redis:// or rediss:// URL',
    }),
  MEMORY_REDIS_PASSWORD: z.string().optional(),
  MEMORY_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._~@:-]{1,128}$/, 'must be 1-128 characters of letters, digits and ._~@:-')
    .default('kaos:memory'),
  MEMORY_MAX_SESSION_EVENTS: intVar(1, 100_000).default(500),
  MEMORY_MAX_SESSIONS: intVar(1, 10_000_000).default(1000),
  MEMORY_SESSION_TTL_SECONDS: intVar(1, 31_536_000 * 10).default(86_400),
  MEMORY_SIDECAR_PORT: intVar(1, 65_535).default(8790),
  MEMORY_SIDECAR_HOST: z.string().default('127.0.0.1'),
  MEMORY_BODY_LIMIT_BYTES: intVar(1024, 64 * 1024 * 1024).default(1024 * 1024),
  MEMORY_REDIS_TIMEOUT_MS: intVar(50, 60_000).default(2000),
  MEMORY_SHUTDOWN_TIMEOUT_MS: intVar(0, 300_000).default(10_000),
  AGENT_NAME: z.string().max(253).default('agent'),
});

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

/** Reads the sidecar's environment once; throws ConfigError naming the bad variable. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const e = parseEnv(schema, env);
  return {
    redisUrl: e.MEMORY_REDIS_URL,
    redisPassword: e.MEMORY_REDIS_PASSWORD,
    keyPrefix: e.MEMORY_KEY_PREFIX,
    maxSessionEvents: e.MEMORY_MAX_SESSION_EVENTS,
    maxSessions: e.MEMORY_MAX_SESSIONS,
    sessionTtlSeconds: e.MEMORY_SESSION_TTL_SECONDS,
    port: e.MEMORY_SIDECAR_PORT,
    host: e.MEMORY_SIDECAR_HOST,
    bodyLimitBytes: e.MEMORY_BODY_LIMIT_BYTES,
    redisTimeoutMs: e.MEMORY_REDIS_TIMEOUT_MS,
    shutdownTimeoutMs: e.MEMORY_SHUTDOWN_TIMEOUT_MS,
    agentName: e.AGENT_NAME,
  };
}
