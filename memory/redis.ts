import { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';
import type { SidecarConfig } from '../sidecar/config.js';
import type { SidecarMetrics } from '../sidecar/metrics.js';

/**
 * The sidecar's one Redis connection. Commands fail at once while it is down
 * (no offline queue), so a request gets a 503 instead of waiting; the store puts
 * a deadline on every call; reconnects run forever in the background with backoff.
 */
export function connectRedis(config: SidecarConfig, log: Logger, metrics?: SidecarMetrics): Redis {
  const url = new URL(config.redisUrl);
  if (config.redisPassword !== undefined) url.password = '';
  const redis = new Redis(url.toString(), {
    ...(config.redisPassword !== undefined ? { password: config.redisPassword } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(config.redisTimeoutMs, 1000),
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
  });
  let down = false;
  redis.on('ready', () => {
    metrics?.redisUp.set(1);
    if (down) log.info('redis connection restored');
    down = false;
  });
  redis.on('error', (err: Error) => {
    metrics?.redisErrors.inc({ kind: 'connection' });
    // One line per outage, not one per retry.
    if (!down) log.warn({ err: err.message }, 'redis connection error');
    down = true;
  });
  redis.on('reconnecting', () => {
    metrics?.redisUp.set(0);
    metrics?.redisReconnects.inc();
  });
  redis.on('close', () => metrics?.redisUp.set(0));
  return redis;
}
