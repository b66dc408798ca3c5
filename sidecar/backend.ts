// The sidecar's Redis: a connection to the configured topology whose events
// feed the metrics and the log (one line per outage, not one per retry), and the
// memory store on it.
import type { Logger } from '../lib/logger.js';
import { describeTopology } from '../lib/redis-url.js';
import { closeRedis, connectRedis, type RedisClient } from '../memory/connection.js';
import { MemoryStore } from '../memory/store.js';
import type { SidecarConfig } from './config.js';
import type { SidecarMetrics } from './metrics.js';

export interface Backend {
  redis: RedisClient;
  store: MemoryStore;
  /** QUIT, bounded: a hung Redis must not hold a shutdown. Not logged as an outage. */
  close(): Promise<void>;
}

export function openStore(config: SidecarConfig, log: Logger, metrics?: SidecarMetrics): Backend {
  let down = false;
  let closing = false;
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
        if (closing) return;
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
  const close = async () => {
    closing = true;
    await closeRedis(redis);
  };
  return { redis, store, close };
}
