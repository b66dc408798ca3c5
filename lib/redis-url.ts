// The three forms of a Redis address (README.md, "Redis topologies"), parsed
// once for the sidecar, the webhook's validation and the operator CLI:
//   redis://[user:pass@]host:port[/db]                       one Redis (rediss:// for TLS)
//   redis+sentinel://[user:pass@]h1:26379[,h2…]/MASTER[/db]  Sentinel (rediss+sentinel://)
//   redis+cluster://[user:pass@]h1:6379[,h2…]                Redis Cluster (rediss+cluster://)
// Messages never repeat the URL: it may hold a password.
import { InvalidValue, parsedEnv, stringEnv } from './env.js';

export interface HostPort {
  host: string;
  port: number;
}

interface Common {
  tls: boolean;
  username?: string;
  password?: string;
}

export type RedisTopology =
  | (Common & { kind: 'single'; host: string; port: number; db: number })
  | (Common & { kind: 'sentinel'; sentinels: HostPort[]; masterName: string; db: number })
  | (Common & { kind: 'cluster'; seeds: HostPort[] });

const SCHEMES: Record<string, { kind: RedisTopology['kind']; tls: boolean; port: number }> = {
  'redis:': { kind: 'single', tls: false, port: 6379 },
  'rediss:': { kind: 'single', tls: true, port: 6379 },
  'redis+sentinel:': { kind: 'sentinel', tls: false, port: 26379 },
  'rediss+sentinel:': { kind: 'sentinel', tls: true, port: 26379 },
  'redis+cluster:': { kind: 'cluster', tls: false, port: 6379 },
  'rediss+cluster:': { kind: 'cluster', tls: true, port: 6379 },
};

const REDIS_URL_SCHEMES = 'redis://, rediss://, redis+sentinel:// or redis+cluster://';

const REDIS_URL_FORMS =
  'redis:// or rediss:// URL, redis+sentinel://host:port[,host:port…]/MASTER or redis+cluster://host:port[,host:port…]';

/** What is wrong with a Redis URL (an InvalidValue: the env reader names the variable). */
class RedisUrlError extends InvalidValue {
  override readonly name = 'RedisUrlError';
}

/** A required variable holding a Redis URL of any form, checked once at start. */
export function redisUrlEnv(
  env: NodeJS.ProcessEnv,
  name: string,
): { url: string; topology: RedisTopology } {
  const url = stringEnv(env, name, { required: `is required (${REDIS_URL_SCHEMES})` });
  return { url, topology: parsedEnv(env, name, parseRedisUrl) as RedisTopology };
}

/** Parses a Redis URL of any supported form; throws RedisUrlError saying what is wrong. */
export function parseRedisUrl(text: string): RedisTopology {
  const match = /^([a-z+]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/.exec(text.trim());
  const scheme = match ? SCHEMES[match[1] ?? ''] : undefined;
  if (!match || !scheme) throw new RedisUrlError(`must be a ${REDIS_URL_FORMS}`);
  const [, , userinfo, hostList = '', path = ''] = match;
  const auth = credentials(userinfo);
  const hosts = hostList.split(',').map((h) => hostPort(h, scheme.port));
  const segments = path.split('/').filter((s) => s !== '');
  const common = { tls: scheme.tls, ...auth };

  if (scheme.kind === 'single') {
    if (hosts.length !== 1)
      throw new RedisUrlError(
        'names more than one host; use redis+sentinel:// or redis+cluster://',
      );
    if (segments.length > 1) throw new RedisUrlError('has a path other than /db');
    const [only] = hosts as [HostPort];
    return {
      kind: 'single',
      ...common,
      host: only.host,
      port: only.port,
      db: dbNumber(segments[0]),
    };
  }
  if (scheme.kind === 'sentinel') {
    const [masterName, db, ...rest] = segments;
    if (masterName === undefined)
      throw new RedisUrlError(
        'needs the monitored master name: redis+sentinel://host:26379/MASTER',
      );
    if (rest.length > 0) throw new RedisUrlError('has a path other than /MASTER[/db]');
    return {
      kind: 'sentinel',
      ...common,
      sentinels: hosts,
      masterName: decodeURIComponent(masterName),
      db: dbNumber(db),
    };
  }
  if (segments.length > 0)
    throw new RedisUrlError('must not have a path: Redis Cluster has only database 0');
  return { kind: 'cluster', ...common, seeds: hosts };
}

/** The URL's form and hosts, for logs: never the credentials. */
export function describeTopology(t: RedisTopology): string {
  const tls = t.tls ? ' (TLS)' : '';
  const list = (hosts: HostPort[]) => hosts.map((h) => `${h.host}:${h.port}`).join(',');
  if (t.kind === 'single') return `redis ${t.host}:${t.port}/${t.db}${tls}`;
  if (t.kind === 'sentinel')
    return `sentinel master ${t.masterName} via ${list(t.sentinels)}${tls}`;
  return `cluster via ${list(t.seeds)}${tls}`;
}

/** Whether the URL carries a password (the webhook warns: it would sit in every pod spec). */
export function hasPassword(text: string): boolean {
  try {
    return parseRedisUrl(text).password !== undefined;
  } catch {
    return false;
  }
}

function credentials(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new RedisUrlError('has credentials that are not valid percent-encoding');
    }
  };
  const username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decode(userinfo.slice(colon + 1));
  return {
    ...(username !== '' ? { username } : {}),
    ...(password !== undefined && password !== '' ? { password } : {}),
  };
}

function hostPort(text: string, defaultPort: number): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new RedisUrlError(`has a host that is not host[:port]: "${text.slice(0, 64)}"`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new RedisUrlError('has a port outside 1-65535');
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
}

function dbNumber(segment: string | undefined): number {
  if (segment === undefined) return 0;
  if (!/^\d{1,5}$/.test(segment)) throw new RedisUrlError('has a database that is not a number');
  return Number(segment);
}
