// One client for whichever Redis the URL names: a single server, a Sentinel-managed
// primary, or a Redis Cluster. The options are chosen for "never acknowledge and
// lose, never write twice, never hang":
// - no offline queue: a command fails at once while disconnected (503), it does not wait;
// - no resend of in-flight commands after a reconnect (ioredis resends by default),
//   so a write whose reply was lost is written at most once; on Cluster, no retry
//   of a command whose connection closed (`retryDelayOnFailover: 0`) for the same reason;
// - a socket that stops answering while commands are pending is destroyed and
//   replaced (`socketTimeout`), so a black-holed connection is noticed in seconds;
// - on Sentinel, READONLY (a primary demoted by a failover) drops the connection so
//   the sentinels are asked for the new primary; the failed command is not resent.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../lib/redis-url.js';

export type RedisClient = Redis | Cluster;

export interface ConnectOptions {
  /** The deadline of one call; timeouts below are derived from it. */
  timeoutMs: number;
  /** Overrides the URL's password (MEMORY_REDIS_PASSWORD). */
  password?: string | undefined;
  /** The sentinels' own password, when they have one (MEMORY_REDIS_SENTINEL_PASSWORD). */
  sentinelPassword?: string | undefined;
  /** Shown by CLIENT LIST. */
  connectionName?: string;
}

/** What a connection reports, for metrics and logs. */
export interface ConnectionEvents {
  ready?(): void;
  /** The connection was lost or could not be made. */
  down?(err: Error | undefined): void;
  reconnecting?(): void;
}

const MAX_BACKOFF_MS = 2_000;
const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), MAX_BACKOFF_MS);

/** A client for `topology`, not yet connected (call `connect()`). */
export function connectRedis(
  topology: RedisTopology,
  options: ConnectOptions,
  events: ConnectionEvents = {},
): RedisClient {
  const password = options.password ?? topology.password;
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(options.timeoutMs, 1_000),
    socketTimeout: Math.max(options.timeoutMs * 2, 2_000),
    keepAlive: 10_000,
    retryStrategy: backoff,
    ...(topology.username !== undefined ? { username: topology.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(topology.tls ? { tls: {} } : {}),
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  };

  let client: RedisClient;
  if (topology.kind === 'single') {
    client = new Redis({ ...common, host: topology.host, port: topology.port, db: topology.db });
  } else if (topology.kind === 'sentinel') {
    client = new Redis({
      ...common,
      sentinels: topology.sentinels,
      name: topology.masterName,
      role: 'master',
      db: topology.db,
      ...(options.sentinelPassword !== undefined
        ? { sentinelPassword: options.sentinelPassword }
        : {}),
      enableTLSForSentinelMode: topology.tls,
      sentinelRetryStrategy: backoff,
      // Subscribe to the sentinels' +switch-master: follow a failover as it is announced.
      failoverDetector: true,
      // A primary demoted under us: reconnect, asking the sentinels again.
      reconnectOnError: (err) => (err.message.includes('READONLY') ? 1 : false),
    });
  } else {
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      scaleReads: 'master',
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      slotsRefreshTimeout: Math.max(options.timeoutMs, 1_000),
      slotsRefreshInterval: 5_000,
      clusterRetryStrategy: backoff,
      // ioredis gives each node connection its own retryStrategy (none): the cluster reconnects.
      redisOptions: common,
      // TLS certificates name the node, not its IP.
      ...(topology.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    };
    const cluster = new Cluster(topology.seeds, clusterOptions);
    // ioredis opens a node's connection on its first command, and refuses the commands that
    // arrive while it connects (there is no offline queue): a burst to a node the cluster has
    // just learned of (at start, after a failover) would fail. Connect each node as it appears.
    cluster.on('+node', (node: Redis) => {
      if (node.status === 'wait') node.connect().catch(() => undefined);
    });
    client = cluster;
  }

  client.on('ready', () => events.ready?.());
  client.on('error', (err: Error) => events.down?.(err));
  client.on('close', () => events.down?.(undefined));
  client.on('reconnecting', () => events.reconnecting?.());
  return client;
}
