// The sidecar's Redis: a connection to the configured topology whose events
// feed the metrics and the log (one line per outage, not one per retry), and the
// memory store on it. With MEMORY_REDIS_PASSWORD_FILE, a password the kubelet updates
// in the mounted Secret is used from the next connect on, and checked at once with AUTH.
import type { Logger } from '../lib/logger.js';
import { describeTopology } from '../lib/redis-url.js';
import {
  closeRedis,
  connectRedis,
  credentialsRefusal,
  updatePassword,
  type RedisClient,
} from '../memory/connection.js';
import { StoreError } from '../memory/errors.js';
import { MemoryStore } from '../memory/store.js';
import type { SidecarConfig } from './config.js';
import type { SidecarMetrics } from './metrics.js';
import { PasswordFile } from './password-file.js';

export interface Backend {
  redis: RedisClient;
  store: MemoryStore;
  /** QUIT, bounded: a hung Redis must not hold a shutdown. Not logged as an outage. */
  close(): Promise<void>;
}

export function openStore(config: SidecarConfig, log: Logger, metrics?: SidecarMetrics): Backend {
  let down = false;
  let closing = false;
  /** Redis refused the credentials at the last attempt (logged once until connected). */
  let refusing = false;
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
        refusing = false;
      },
      down(err) {
        metrics?.redisUp.set(0);
        if (closing) return;
        // A refused password is its own kind (the KaosMemoryRedisAuthFailing alert), counted
        // at every attempt: each reconnect is refused again until the password is fixed.
        const refused = credentialsRefusal(err) !== undefined;
        if (err) metrics?.redisErrors.inc({ kind: refused ? 'auth' : 'connection' });
        if (refused) {
          if (!refusing) {
            log.error(
              { redis: describeTopology(config.redis), err: err?.message },
              'redis refused the credentials; requests answer 503 redis_auth until the password matches',
            );
          }
          refusing = true;
        } else if (!down) {
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
  const stopWatching = watchPassword(config, redis, log);
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
      evicted(count) {
        metrics?.sessionsEvicted.inc(count);
      },
      indexFailed(err, sessionId) {
        // An outage is reported by the requests themselves; anything else is a defect.
        if (err instanceof StoreError && (err.kind === 'unavailable' || err.kind === 'timeout'))
          return;
        log.warn({ session: sessionId, err: (err as Error).message }, 'session index not updated');
      },
    },
  );
  const close = async () => {
    closing = true;
    stopWatching();
    await closeRedis(redis);
  };
  return { redis, store, close };
}

/** Follows MEMORY_REDIS_PASSWORD_FILE until the returned function is called. */
function watchPassword(config: SidecarConfig, redis: RedisClient, log: Logger): () => void {
  const file = config.redisPasswordFile;
  if (!file) return () => undefined;
  if (file.fellBack) {
    log.warn(
      { file: file.path },
      'redis password file not readable at start; using MEMORY_REDIS_PASSWORD until it is',
    );
  }
  // A password Redis refuses now is handed on again at the file's next re-read (every 5 s)
  // until it is accepted or replaced: Redis's own copy of the Secret can lag the pod's, and
  // an operator waits for the "accepted" line. One warning per password, not one per try.
  let refused: string | undefined;
  const watcher = new PasswordFile(file.path, config.redisPassword, log, async (password) => {
    const result = await updatePassword(redis, password, config.redis.username);
    if (result !== 'refused') {
      refused = undefined;
      log.info({ file: file.path, reauthentication: result }, 'redis password changed');
      return true;
    }
    if (refused !== password) {
      log.warn(
        { file: file.path, reauthentication: result },
        'redis password changed; Redis does not accept it yet: open connections keep working, ' +
          'the next connect uses it, and it is tried again every few seconds',
      );
    }
    refused = password;
    return false;
  });
  watcher.start();
  return () => watcher.stop();
}
