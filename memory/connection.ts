// One client for whichever Redis the URL names: a single server, a Sentinel-managed
// primary, or a Redis Cluster. The options are chosen for "never acknowledge and
// lose, never write twice, never hang":
// - no offline queue (on one Redis and Sentinel): a command fails at once while
//   disconnected (503), it does not wait; on Cluster, commands wait for a node's connection
//   to open, within the deadline;
// - no resend of in-flight commands after a reconnect (ioredis resends by default),
//   so a write whose reply was lost is written at most once; on Cluster, no retry
//   of a command whose connection closed (`retryDelayOnFailover: 0`) for the same reason;
// - a socket that stops answering while commands are pending is destroyed and
//   replaced (`socketTimeout`), so a black-holed connection is noticed in seconds;
// - on Sentinel, READONLY (a primary demoted by a failover) drops the connection so
//   the sentinels are asked for the new primary; the failed command is not resent;
// - on Sentinel, a sentinel that accepts connections but does not answer (stopped,
//   overloaded) is given up after the deadline and the next one asked;
// - a client ioredis gives up on (status `end`) that this process did not close is
//   started again (see `restartWhenEnded`).
// The password can change while the client runs (updatePassword): the next connect uses
// the new one, and open connections are re-authenticated with AUTH, which writes nothing.
// While Redis refuses the credentials at connect or reconnect, every command fails at once
// as a refusal (StoreError kind `auth`, 503 `redis_auth`), not as a lost connection.
import { Cluster, Command, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../lib/redis-url.js';
import { StoreError } from './errors.js';

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

/** The longest wait between two connection attempts. */
export const MAX_BACKOFF_MS = 2_000;
/** How long closing waits for Redis to acknowledge QUIT before dropping the connection. */
const QUIT_TIMEOUT_MS = 1_000;

/** Clients this process closed: the end of any other is ioredis giving up. */
const closedHere = new WeakSet<RedisClient>();

/**
 * QUIT, bounded: a hung Redis (or a Cluster node still connecting) must not hold a
 * shutdown or a command-line tool's exit. Then the connection is dropped for sure.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  closedHere.add(client);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => (timer = setTimeout(resolve, QUIT_TIMEOUT_MS)));
  await Promise.race([client.quit().catch(() => undefined), late]);
  clearTimeout(timer);
  client.disconnect();
}
const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), MAX_BACKOFF_MS);

/**
 * Resolves once `client` is ready, or after `timeoutMs` whatever its state (the next command
 * then fails with its own error). For a caller that runs now and then on a long-lived client
 * (a sync loop): a round right after Redis came back waits for the reconnect under way instead
 * of failing on it.
 */
export async function whenReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
    function done() {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    }
  });
}

/** Drops the connection at once, without QUIT (a client that never connected, say). */
export function dropRedis(client: RedisClient): void {
  closedHere.add(client);
  client.disconnect();
}

/**
 * ioredis 6 ends a Sentinel client for good (status `end`, every command "Connection is
 * closed" from then on) when a sentinel announces +switch-master while the client is
 * asking the sentinels where the primary is: the failover detector drops the connect
 * under way, and a connect that fails that way is not retried. Under load this is the
 * common case of a crashed primary (the client reconnects at once, the sentinels are slow
 * to answer), and a sidecar would answer 503 until its pod restarts. So a client that
 * ends without `closeRedis` or `dropRedis` connects again, with the same backoff.
 */
function restartWhenEnded(client: Redis): void {
  let attempts = 0;
  client.on('ready', () => (attempts = 0));
  client.on('end', () => {
    if (closedHere.has(client)) return;
    setTimeout(() => {
      if (!closedHere.has(client) && client.status === 'end')
        client.connect().catch(() => undefined);
    }, backoff(++attempts)).unref();
  });
}

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
      // A sentinel that does not answer would hold the search for the primary for good.
      sentinelCommandTimeout: Math.max(options.timeoutMs, 1_000),
      // Subscribe to the sentinels' +switch-master: follow a failover as it is announced.
      failoverDetector: true,
      // A primary demoted under us: reconnect, asking the sentinels again.
      reconnectOnError: (err) => (err.message.includes('READONLY') ? 1 : false),
    });
  } else {
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      // ioredis opens a node's connection on its first command and, without a queue,
      // refuses the commands that arrive while it connects: a burst to a node the client
      // has just learned of (at start, after a failover) would fail. Queued commands are
      // sent once, when the node is ready; the store's deadline still bounds every call.
      enableOfflineQueue: true,
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
    client = new Cluster(topology.seeds, clusterOptions);
  }

  if (!(client instanceof Cluster)) restartWhenEnded(client);
  failOnRefusal(client);
  client.on('ready', () => events.ready?.());
  client.on('error', (err: Error) => events.down?.(err));
  client.on('close', () => events.down?.(undefined));
  client.on('reconnecting', () => events.reconnecting?.());
  return client;
}

const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b/;

/**
 * The reply with which Redis refused a connection's credentials (AUTH or HELLO), or
 * undefined when `err` is another failure. On Cluster, the last node's reply.
 */
export function credentialsRefusal(err: unknown): Error | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err.name === 'ReplyError' && AUTH_REPLY.test(err.message)) return err;
  return credentialsRefusal((err as { lastNodeError?: unknown }).lastNodeError);
}

interface Interceptable {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
  /** Cluster only: where pipelines and auto-pipelined commands wait for the first slots. */
  delayUntilReady?(callback: (err?: Error | null) => void): void;
}

/**
 * From a refused AUTH until the next successful connect, commands fail at once with a
 * StoreError of kind `auth` (ioredis would say "Stream isn't writeable", or, on Cluster,
 * "None of startup nodes is available": both read as an outage). The handshake of a
 * connect under way still goes out, so a corrected password is tried; a failure of any
 * other kind ends the refusal.
 */
function failOnRefusal(client: RedisClient): void {
  let refusal: StoreError | undefined;
  client.on('error', (err: unknown) => {
    const reply = credentialsRefusal(err);
    refusal = reply
      ? new StoreError('auth', `redis refused the credentials (${reply.message})`, {
          cause: reply,
        })
      : undefined;
  });
  client.on('ready', () => (refusal = undefined));
  const refused = (command?: Command): StoreError | undefined => {
    if (refusal === undefined || client.status === 'ready') return undefined;
    // A Cluster's handshakes run on its node connections, not through it.
    const handshake =
      client.status === 'connect' &&
      !(client instanceof Cluster) &&
      command !== undefined &&
      Command.checkFlag('HANDSHAKE_COMMANDS', command.name);
    return handshake ? undefined : refusal;
  };
  const target = client as unknown as Interceptable;
  const send = target.sendCommand.bind(target);
  target.sendCommand = (command, ...rest) => {
    const err = refused(command);
    if (err === undefined) return send(command, ...rest);
    command.reject(err);
    return command.promise;
  };
  const delay = target.delayUntilReady?.bind(target);
  if (delay) {
    target.delayUntilReady = (callback) => {
      const err = refused();
      if (err === undefined) delay(callback);
      else callback(err);
    };
  }
}

/** What sending AUTH with a new password on the open connections gave. */
export type Reauthentication = 'accepted' | 'refused' | 'not-connected';

/**
 * Use `password` for every connection made from now on, and send AUTH with it on the
 * connections that are open, as a check. ioredis reads `options.password` at each connect
 * (a Cluster also keeps one copy per node and one for nodes it has yet to meet: all are
 * updated). Redis keeps a connection authenticated when AUTH fails, so a password Redis
 * does not accept yet disturbs nothing that runs; the answer says so, and the next connect
 * will use it anyway. AUTH is not a write; like every command here it is never resent.
 */
export async function updatePassword(
  client: RedisClient,
  password: string,
  username?: string,
): Promise<Reauthentication> {
  const connections: Redis[] = [];
  if (client instanceof Cluster) {
    client.options.redisOptions = { ...client.options.redisOptions, password };
    // Nodes met later are made from the pool's own copy of redisOptions (not public API:
    // checked, so an ioredis that moves it fails loudly in the rotation tests, not silently).
    const pool = (client as unknown as { connectionPool?: { redisOptions?: RedisOptions } })
      .connectionPool;
    if (pool?.redisOptions) pool.redisOptions.password = password;
    for (const node of client.nodes('all')) {
      node.options.password = password;
      connections.push(node);
    }
  } else {
    client.options.password = password;
    connections.push(client);
  }
  const open = connections.filter((c) => c.status === 'ready');
  if (open.length === 0) return 'not-connected';
  const answers = await Promise.all(
    open.map((c) =>
      (username !== undefined ? c.auth(username, password) : c.auth(password)).then(
        () => 'accepted' as const,
        (err: Error) =>
          /WRONGPASS|invalid password|NOAUTH/i.test(err.message) ? 'refused' : 'not-connected',
      ),
    ),
  );
  if (answers.includes('refused')) return 'refused';
  return answers.includes('accepted') ? 'accepted' : 'not-connected';
}
