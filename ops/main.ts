// `kaos-memory sessions …`: bootstrap only. Reads the arguments and the sidecar's
// Redis variables, connects to whichever topology the URL names, runs one command
// (sessions.ts) and exits with its status.
import { parseArgs } from 'node:util';
import { Cluster } from 'ioredis';
import { ENV, SESSION_SETTINGS } from '../lib/contract.js';
import { intEnv, optionalEnv, stringEnv } from '../lib/env.js';
import { redisUrlEnv } from '../lib/redis-url.js';
import {
  closeRedis,
  dropRedis,
  connectRedis,
  credentialsRefusal,
  type RedisClient,
} from '../memory/connection.js';
import { MemoryStore } from '../memory/store.js';
import { readPasswordFile } from '../sidecar/password-file.js';
import {
  deleteSessions,
  erase,
  exportSessions,
  importSessions,
  list,
  listHolds,
  releaseHolds,
  show,
  type Io,
} from './sessions.js';
import { tenantPrefix } from '../lib/tenancy.js';

export const USAGE = `usage: kaos-memory sessions <command> [options]

commands:
  list [--user U] [--limit N] [--json]   sessions, newest first (default limit 100)
  show S                                 one session and its events, as JSON
  export (S... | --all)                  JSON Lines on stdout, one line per session, byte for byte
  import [FILE] [--replace]              reads that format from FILE or stdin; every record is
                                         checked before anything is written; existing
                                         sessions are left alone unless --replace
  delete S...                            deletes sessions
  erase --user U                         deletes every session of one user and says how many
                                         (sessions under a legal hold are kept and counted)
  holds [--json]                         sessions under a legal hold, with reason and start
  release S...                           lifts the legal hold on sessions: their TTL applies
                                         again from now (e.g. after their namespace is gone)

options:
  --redis-url URL   default MEMORY_REDIS_URL (redis://, redis+sentinel://, redis+cluster://)
  --prefix P        default MEMORY_KEY_PREFIX, else kaos:memory
  --namespace NS    an isolated namespace's sessions: the prefix kaos:tenant:NS (not with --prefix)
  --quiet           no progress lines on stderr
MEMORY_REDIS_USERNAME, MEMORY_REDIS_PASSWORD_FILE, MEMORY_REDIS_PASSWORD and
MEMORY_REDIS_SENTINEL_PASSWORD are read as the sidecar reads them (the file, a mounted Secret,
wins: it follows a rotation); with a namespace's Secret kaos-memory-tenant, the command can
reach that namespace's sessions and no other.
`;

const COMMANDS = [
  'list',
  'show',
  'export',
  'import',
  'delete',
  'erase',
  'holds',
  'release',
] as const;
type Command = (typeof COMMANDS)[number];

/** Thrown for a command line that cannot run; the CLI prints it with the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Invocation {
  command: Command;
  ids: string[];
  user: string | undefined;
  limit: number;
  json: boolean;
  all: boolean;
  replace: boolean;
  quiet: boolean;
  redisUrl: string | undefined;
  prefix: string | undefined;
}

/** The command line, checked; throws UsageError. */
export function parseInvocation(argv: string[]): Invocation | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        user: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        replace: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        'redis-url': { type: 'string' },
        prefix: { type: 'string' },
        namespace: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...ids] = positionals;
  if (values.help || name === undefined || name === 'help') return 'help';
  if (!(COMMANDS as readonly string[]).includes(name)) {
    throw new UsageError(`unknown command "${name}"`);
  }
  const command = name as Command;
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError('--limit must be 1 or more');
  const wants = (what: boolean, message: string) => {
    if (!what) throw new UsageError(`${command}: ${message}`);
  };
  switch (command) {
    case 'show':
      wants(ids.length === 1, 'name exactly one session');
      break;
    case 'export':
      wants(values.all !== ids.length > 0, 'name sessions or give --all (not both)');
      break;
    case 'delete':
    case 'release':
      wants(ids.length > 0, 'name at least one session');
      break;
    case 'erase':
      wants(ids.length === 0 && !!values.user, 'needs --user U and nothing else');
      break;
    case 'import':
      wants(ids.length <= 1, 'takes at most one file (else it reads stdin)');
      break;
    default:
      wants(ids.length === 0, `takes no session ids`);
  }
  return {
    command,
    ids,
    user: values.user,
    limit,
    json: values.json,
    all: values.all,
    replace: values.replace,
    quiet: values.quiet,
    redisUrl: values['redis-url'],
    prefix: namespacePrefix(values.namespace, values.prefix),
  };
}

/** --namespace NS as its tenant prefix (lib/tenancy.ts), else --prefix. */
function namespacePrefix(namespace: string | undefined, prefix: string | undefined) {
  if (namespace === undefined) return prefix;
  if (prefix !== undefined) throw new UsageError('--namespace and --prefix: give one');
  try {
    return tenantPrefix(namespace);
  } catch (err) {
    throw new UsageError(`--namespace: ${(err as Error).message}`);
  }
}

/** A command's deadline per Redis call: longer than the sidecar's, an operator waits. */
const TIMEOUT_MS = 10_000;

/** Connects to the store the invocation names (its flags over the environment). */
export async function openStore(
  inv: Invocation,
  env: NodeJS.ProcessEnv,
): Promise<{ redis: RedisClient; store: MemoryStore }> {
  const merged = { ...env };
  if (inv.redisUrl !== undefined) merged[ENV.redisUrl] = inv.redisUrl;
  if (inv.prefix !== undefined) merged[ENV.keyPrefix] = inv.prefix;
  const username = optionalEnv(merged, ENV.redisUsername);
  const url = redisUrlEnv(merged, ENV.redisUrl).topology;
  const topology = username === undefined ? url : { ...url, username };
  const keyPrefix = stringEnv(merged, ENV.keyPrefix, SESSION_SETTINGS.keyPrefix);
  const timeoutMs = intEnv(merged, 'MEMORY_REDIS_TIMEOUT_MS', {
    min: 50,
    max: 600_000,
    fallback: TIMEOUT_MS,
  });
  const redis = connectRedis(topology, {
    timeoutMs,
    password: redisPassword(merged),
    sentinelPassword: optionalEnv(merged, 'MEMORY_REDIS_SENTINEL_PASSWORD'),
    connectionName: 'kaos-memory-cli',
  });
  // Reported by connect(); the client keeps retrying underneath until it is closed.
  let refused: Error | undefined;
  redis.on('error', (err: unknown) => (refused ??= credentialsRefusal(err)));
  try {
    await redis.connect();
    if (redis instanceof Cluster) await connectMasters(redis, timeoutMs);
  } catch (err) {
    dropRedis(redis);
    if (refused) {
      throw new Error(
        `Redis refused the credentials (${refused.message}); check ${ENV.redisPasswordFile} or ${ENV.redisPassword}`,
        { cause: err },
      );
    }
    throw new Error(`cannot reach Redis: ${(err as Error).message}`, { cause: err });
  }
  const store = new MemoryStore(redis, {
    keyPrefix,
    // Writes here restore what was stored (import); these limits are for appends.
    maxSessionEvents: SESSION_SETTINGS.maxSessionEvents.max,
    maxSessions: SESSION_SETTINGS.maxSessions.max,
    sessionTtlSeconds: SESSION_SETTINGS.sessionTtlSeconds.fallback,
    timeoutMs,
    minReplicas: 0,
    maxReadBytes: 64 * 1024 * 1024,
  });
  return { redis, store };
}

/**
 * The password as the sidecar takes it: MEMORY_REDIS_PASSWORD_FILE's (a mounted Secret,
 * current after a rotation), else MEMORY_REDIS_PASSWORD, else the URL's (undefined).
 */
export function redisPassword(env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = optionalEnv(env, ENV.redisPassword);
  const path = optionalEnv(env, ENV.redisPasswordFile);
  if (path === undefined) return fromEnv;
  const fromFile = readPasswordFile(path);
  if (fromFile !== undefined || fromEnv !== undefined) return fromFile ?? fromEnv;
  throw new Error(`${ENV.redisPasswordFile}: ${path} is missing, unreadable or empty`);
}

/**
 * The client opens each Cluster node's connection as it learns of it, and refuses a
 * command sent while that connection opens: a one-shot command waits for the masters'.
 */
async function connectMasters(cluster: Cluster, timeoutMs: number): Promise<void> {
  await Promise.all(
    cluster.nodes('master').map(async (node) => {
      if (node.status === 'ready') return;
      if (node.status === 'wait') {
        await node.connect();
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('a cluster node did not connect')),
          timeoutMs,
        );
        node.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }),
  );
}

/** Runs one invocation against a store; resolves with the exit status. */
export function runCommand(inv: Invocation, store: MemoryStore, io: Io): Promise<number> {
  switch (inv.command) {
    case 'list':
      return list(store, io, { user: inv.user, limit: inv.limit, json: inv.json });
    case 'show':
      return show(store, io, inv.ids[0] ?? '');
    case 'export':
      return exportSessions(store, io, { ids: inv.ids, all: inv.all });
    case 'import':
      return importSessions(store, io, { replace: inv.replace, file: inv.ids[0] });
    case 'delete':
      return deleteSessions(store, io, inv.ids);
    case 'erase':
      return erase(store, io, inv.user ?? '');
    case 'holds':
      return listHolds(store, io, inv.json);
    case 'release':
      return releaseHolds(store, io, inv.ids);
  }
}

/** `kaos-memory sessions`. */
export async function run(argv: string[]): Promise<void> {
  let inv;
  try {
    inv = parseInvocation(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`kaos-memory sessions: ${err.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (inv === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const { redis, store } = await openStore(inv, process.env);
  try {
    process.exitCode = await runCommand(inv, store, {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      progress: inv.quiet ? undefined : process.stderr,
    });
  } finally {
    await closeRedis(redis);
  }
}
