// The memory store: each method is one Redis round trip, and each write one
// MULTI/EXEC around one script from lua.ts (batch.ts shares the round trips).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TransactionBatcher, type Commands } from './batch.js';
import type { SidecarConfig } from '../sidecar/config.js';
import { now, type Instant } from './clock.js';
import { UnavailableError, isConnectionError } from '../sidecar/errors.js';
import {
  decodeEvent,
  decodeIndexed,
  encodeEvent,
  newEventId,
  type MemoryEvent,
  type NewEvent,
} from './events.js';
import { Keys } from './keys.js';
import { APPEND_EVENTS, CREATE_SESSION, DELETE_SESSION, LIST_SESSIONS } from './lua.js';

export interface StoreLimits {
  keyPrefix: string;
  maxSessionEvents: number;
  maxSessions: number;
  sessionTtlSeconds: number;
  timeoutMs: number;
}

/** The store's limits as the sidecar's configuration gives them. */
export function storeLimits(config: SidecarConfig): StoreLimits {
  return {
    keyPrefix: config.keyPrefix,
    maxSessionEvents: config.maxSessionEvents,
    maxSessions: config.maxSessions,
    sessionTtlSeconds: config.sessionTtlSeconds,
    timeoutMs: config.redisTimeoutMs,
  };
}

export interface Session {
  session_id: string;
  user_id: string;
  app_name: string;
  created_at: string;
  updated_at: string;
}

export interface SessionWithCount extends Session {
  event_count: number;
}

export interface SessionOwner {
  userId: string;
  appName: string;
}

/** Where a page of sessions ends: strictly after (score, member) in newest-first order. */
export interface SessionCursor {
  score: string;
  member: string;
}

/** Where a page of events begins: the next page holds the events before this one. */
export interface EventCursor {
  index: number;
  eventId: string;
}

export interface AppendResult {
  created: boolean;
  events: { event_id: string; stored: boolean }[];
}

export interface EventPage {
  events: MemoryEvent[];
  next: EventCursor | undefined;
}

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const SCRIPTS = {
  create: new Script(CREATE_SESSION),
  append: new Script(APPEND_EVENTS),
  delete: new Script(DELETE_SESSION),
  list: new Script(LIST_SESSIONS),
};

type Reply = unknown;

export class MemoryStore {
  readonly keys: Keys;

  private readonly batcher: TransactionBatcher;

  constructor(
    private readonly redis: Redis,
    private readonly limits: StoreLimits,
  ) {
    this.keys = new Keys(limits.keyPrefix);
    this.batcher = new TransactionBatcher(redis);
  }

  async ping(): Promise<boolean> {
    return (await this.deadline(this.redis.ping())) === 'PONG';
  }

  async createSession(
    sessionId: string,
    owner: SessionOwner,
  ): Promise<{ created: boolean; session: SessionWithCount }> {
    const k = this.keys.forSession(sessionId);
    const t = now();
    const reply = (await this.transact(
      SCRIPTS.create,
      [k.session, k.events, k.index],
      this.sessionArgs(sessionId, owner, t),
    )) as [number, number, string[], number];
    return { created: reply[0] === 1, session: toSession(sessionId, pairs(reply[2]), reply[3]) };
  }

  async getSession(sessionId: string): Promise<SessionWithCount | undefined> {
    const k = this.keys.forSession(sessionId);
    const [hash, count] = (await this.tx((t) => t.hgetall(k.session).llen(k.events))) as [
      Record<string, string>,
      number,
    ];
    if (Object.keys(hash).length === 0) return undefined;
    return toSession(sessionId, hash, count);
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    const k = this.keys.forSession(sessionId);
    const deleted = await this.transact(
      SCRIPTS.delete,
      [k.session, k.events, k.index],
      [sessionId],
    );
    return Number(deleted) > 0;
  }

  async listSessions(opts: {
    limit: number;
    userId?: string | undefined;
    cursor?: SessionCursor | undefined;
  }): Promise<{ sessions: Session[]; next: SessionCursor | undefined }> {
    // A user filter may skip many entries: examine more per page, but never the whole index.
    const budget = opts.userId ? Math.max(opts.limit * 10, 200) : opts.limit + 16;
    const reply = (await this.transact(
      SCRIPTS.list,
      [this.keys.index],
      [
        opts.cursor?.score ?? '+inf',
        opts.cursor?.member ?? '',
        opts.limit,
        opts.userId ?? '',
        this.limits.keyPrefix,
        budget,
      ],
    )) as [string, string, string[][]];
    const sessions = reply[2].map(
      ([session_id = '', user_id = '', app_name = '', created_at = '', updated_at = '']) => ({
        session_id,
        user_id,
        app_name,
        created_at,
        updated_at,
      }),
    );
    const next = reply[0] === '' ? undefined : { score: reply[0], member: reply[1] };
    return { sessions, next };
  }

  /** Session ids oldest first, as KAOS's list_sessions returns them (bounded). */
  async sessionIds(max: number): Promise<string[]> {
    return this.deadline(this.redis.zrange(this.keys.index, String(-max), '-1'));
  }

  async appendEvents(
    sessionId: string,
    events: NewEvent[],
    owner: SessionOwner,
  ): Promise<AppendResult> {
    const k = this.keys.forSession(sessionId);
    const t = now();
    const ids = events.map((e) => e.event_id ?? newEventId());
    const args = this.sessionArgs(sessionId, owner, t);
    events.forEach((e, i) => args.push(e.event_id ?? '', encodeEvent(e, ids[i] ?? '', t.iso)));
    const reply = (await this.transact(SCRIPTS.append, [k.session, k.events, k.index], args)) as [
      number,
      number,
      number[],
    ];
    return {
      created: reply[0] === 1,
      events: ids.map((event_id, i) => ({ event_id, stored: reply[2][i] === 1 })),
    };
  }

  /**
   * Events oldest first (`limit` defaults to all the session keeps). Without a type filter or cursor this reads only the
   * newest `limit` entries (negative LRANGE indexes), whatever the history's length.
   */
  async readEvents(
    sessionId: string,
    opts: {
      limit?: number | undefined;
      types?: readonly string[] | undefined;
      before?: EventCursor | undefined;
    },
  ): Promise<EventPage> {
    const key = this.keys.forSession(sessionId).events;
    const limit = opts.limit ?? this.limits.maxSessionEvents;
    if (!opts.types && !opts.before) {
      const [length, raw] = (await this.tx((t) => t.llen(key).lrange(key, -limit, -1))) as [
        number,
        string[],
      ];
      const start = Math.max(0, length - raw.length);
      return page(raw, start, limit, undefined);
    }
    const end = opts.before ? opts.before.index : -1;
    const raw = await this.deadline(this.redis.lrange(key, 0, end));
    let upTo = raw.length;
    if (opts.before) {
      // Appends never move an entry's head index; trims move it down. Find it again.
      upTo = locate(raw, opts.before);
      if (upTo < 0) return { events: [], next: undefined };
    }
    return page(raw.slice(0, upTo), 0, limit, opts.types);
  }

  // --- plumbing -------------------------------------------------------------

  /** ARGV[1..9] of the write scripts (lua.ts): the session, the moment, and the limits. */
  private sessionArgs(sessionId: string, owner: SessionOwner, t: Instant): (string | number)[] {
    const l = this.limits;
    return [
      sessionId,
      owner.userId,
      owner.appName,
      t.iso,
      t.score,
      l.sessionTtlSeconds,
      l.maxSessionEvents,
      l.maxSessions,
      l.keyPrefix,
    ];
  }

  private async transact(
    script: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<Reply> {
    const run = () =>
      this.tx((t) => t.evalsha(script.sha, String(keys.length), ...keys, ...args.map(String)));
    try {
      return (await run())[0];
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      // First use on this server (or after a restart): load, then the same transaction again.
      await this.deadline(this.redis.script('LOAD', script.lua));
      return (await run())[0];
    }
  }

  /** One MULTI/EXEC, sharing its socket write with the others of this turn. */
  private tx(commands: Commands): Promise<unknown[]> {
    return this.deadline(this.batcher.run(commands));
  }

  /** Every call has a deadline: a hung Redis becomes a 503, never a hung request. */
  private deadline<T>(promise: Promise<T>): Promise<T> {
    const ms = this.limits.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new UnavailableError(`redis did not answer within ${ms} ms`)),
        ms,
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (isConnectionError(err)) {
            reject(new UnavailableError('redis is unavailable', { cause: err }));
          } else {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      );
    });
  }
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

function toSession(sessionId: string, h: Record<string, string>, count: number): SessionWithCount {
  return {
    session_id: h.session_id ?? sessionId,
    user_id: h.user_id ?? '',
    app_name: h.app_name ?? '',
    created_at: h.created_at ?? '',
    updated_at: h.updated_at ?? '',
    event_count: count,
  };
}

/** The head index of the cursor's event in `raw`, searching back from where it was; -1 when trimmed. */
function locate(raw: string[], cursor: EventCursor): number {
  if (cursor.eventId === '') return Math.min(cursor.index, raw.length);
  const marker = `"event_id": ${JSON.stringify(cursor.eventId)}`;
  for (let i = Math.min(cursor.index, raw.length - 1); i >= 0; i--) {
    const item = raw[i] as string;
    if (item.includes(marker) || item.includes(`"event_id":${JSON.stringify(cursor.eventId)}`)) {
      if (decodeEvent(item)?.event_id === cursor.eventId) return i;
    }
  }
  return -1;
}

/**
 * The newest `limit` events of `raw` (entries starting at head index `start`),
 * oldest first, after KAOS's reader rules, with a cursor to the older ones.
 */
function page(
  raw: string[],
  start: number,
  limit: number,
  types: readonly string[] | undefined,
): EventPage {
  const decoded = decodeIndexed(raw);
  const kept = types ? decoded.filter(({ event }) => types.includes(event.event_type)) : decoded;
  const chosen = kept.slice(-limit);
  const first = chosen[0];
  const olderExists =
    first !== undefined && (types ? kept.length > chosen.length : start + first.at > 0);
  return {
    events: chosen.map((c) => c.event),
    next: olderExists ? { index: start + first.at, eventId: first.event.event_id } : undefined,
  };
}
