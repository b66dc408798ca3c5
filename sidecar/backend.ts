// The sidecar's Redis: a connection to the configured topology whose events
// feed the metrics and the log (one line per outage, not one per retry), and the
// memory store on it.
import type { Logger } from '../lib/logger.js';
import { describeTopology } from '../lib/redis-url.js';
import { connectRedis, type RedisClient } from '../memory/connection.js';
import { MemoryStore } from '../memory/store.js';
import type { SidecarConfig } from './config.js';
import type { SidecarMetrics } from './metrics.js';

export function openStore(
  config: SidecarConfig,
  log: Logger,
  metrics?: SidecarMetrics,
): { redis: RedisClient; store: MemoryStore } {
  let down = false;
  const redis = connectRedis(
    config.redis,
    {
      timeoutMs: config.redisTimeoutMs,
      password: config.redisPassword,
      sentinelPassword: config.redisSentinelPassword,
      connectionName: `kaos-memory-sidecar:${config.agentName}`,
    },
    {
      ready() {
        metrics?.redisUp.set(1);
        if (down) log.info({ redis: describeTopology(config.redis) }, 'redis connection restored');
        down = false;
      },
      down(err) {
        metrics?.redisUp.set(0);
        if (err) metrics?.redisErrors.inc({ kind: 'connection' });
        if (!down) {
          log.warn(
            { redis: describeTopology(config.redis), err: err?.message },
            'redis connection lost',
          );
        }
        down = true;
      },
      reconnecting() {
        metrics?.redisReconnects.inc();
      },
    },
  );
  const store = new MemoryStore(
    redis,
    {
      keyPrefix: config.keyPrefix,
      maxSessionEvents: config.maxSessionEvents,
      maxSessions: config.maxSessions,
      sessionTtlSeconds: config.sessionTtlSeconds,
      timeoutMs: config.redisTimeoutMs,
      minReplicas: config.redisMinReplicas,
      maxReadBytes: config.maxReadBytes,
    },
    {
      skipped(skipped, sessionId) {
        if (skipped.undecodable)
          metrics?.entriesSkipped.inc({ reason: 'undecodable' }, skipped.undecodable);
        if (skipped.oversized)
          metrics?.entriesSkipped.inc({ reason: 'oversized' }, skipped.oversized);
        log.warn({ session: sessionId, ...skipped }, 'stored entries passed over on read');
      },
    },
  );
  return { redis, store };
}
