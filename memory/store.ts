// The memory store on Redis, in KAOS RedisMemory's layout (keys.ts): the request
// path. Each write is one MULTI/EXEC around one script (memory/lua/), batched per
// hash slot; reads are scripts too, outside MULTI, so they keep working when Redis
// is at maxmemory. Every call has a deadline (runner.ts). Whole-store operations
// (export, import, erasure) are in admin.ts.
import { now, type Instant } from './clock.js';
import type { RedisClient } from './connection.js';
import {
  decodeAll,
  decodeEvent,
  encodeEvent,
  newEventId,
  type MemoryEvent,
  type NewEvent,
} from './events.js';
import { keySlot, Keys, type IndexHeads, type SessionKeys } from './keys.js';
import { ScriptRunner } from './runner.js';
import { LuaScript } from './script.js';

export interface StoreLimits {
  keyPrefix: string;
  maxSessionEvents: number;
  maxSessions: number;
  sessionTtlSeconds: number;
  /** The deadline of every call. */
  timeoutMs: number;
  /** Replicas that must confirm a write (WAIT); 0 for none. */
  minReplicas: number;
  /** The bytes of stored events one read returns at most (it pages past them). */
  maxReadBytes: number;
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

/** Stored entries a read passed over, by why. */
export interface Skipped {
  /** Not JSON, not a whole event, or nested too deeply. */
  undecodable: number;
  /** Larger than a whole page may be. */
  oversized: number;
}

export interface EventPage {
  events: MemoryEvent[];
  next: EventCursor | undefined;
  skipped: Skipped;
  /** The stored bytes this page read. */
  bytes: number;
}

export type { StoredSession } from './admin.js';

export interface StoreHooks {
  /** Called when a read passes over stored entries it cannot return. */
  skipped?(skipped: Skipped, sessionId: string): void;
  /** Called when sessions were deleted to keep MEMORY_MAX_SESSIONS. */
  evicted?(count: number): void;
}

// --- the scripts of the request path, each with its typed binding -------------

/** The arguments of both write scripts: the session, the moment, the limits, the key heads. */
const WRITE_ARGS = [
  'sid',
  'userId',
  'appName',
  'nowIso',
  'nowScore',
  'ttl',
  'maxEvents',
  'maxSessions',
  'sessionHead',
  'eventsHead',
] as const;
type WriteArgs = Record<(typeof WRITE_ARGS)[number], string | number>;
const SESSION_KEYS = ['session', 'events', 'index'] as const;

const CREATE = new LuaScript('create.lua', {
  keys: SESSION_KEYS,
  args: WRITE_ARGS,
  reply: (r) => ({
    created: r.flag('created'),
    evicted: r.int('evicted'),
    session: pairs(r.strs('session')),
    count: r.int('count'),
  }),
});

const APPEND = new LuaScript('append.lua', {
  keys: SESSION_KEYS,
  args: WRITE_ARGS,
  rest: true,
  reply: (r) => ({
    created: r.flag('created'),
    evicted: r.int('evicted'),
    stored: r.ints('stored').map((flag) => flag === 1),
  }),
});

const DELETE = new LuaScript('delete.lua', {
  keys: SESSION_KEYS,
  args: ['sid'],
  reply: (r) => r.int('deleted') > 0,
});

const EVICT_IF_UNCHANGED = new LuaScript('evict-if-unchanged.lua', {
  keys: ['index'],
  args: ['sid', 'score', 'sessionHead', 'eventsHead'],
  reply: (r) => r.flag('evicted'),
});

/** One page of one index; admin.ts walks the store with it too. */
export const LIST = new LuaScript('list.lua', {
  keys: ['index'],
  args: ['maxScore', 'afterMember', 'limit', 'user', 'sessionHead', 'budget'],
  reply: (r) => {
    const rows = r.list('rows') as string[][];
    const stop = r.strs('stop');
    return {
      rows: rows.map(
        ([
          session_id = '',
          score = '0',
          user_id = '',
          app_name = '',
          created_at = '',
          updated_at = '',
        ]) => ({
          session_id,
          score,
          user_id,
          app_name,
          created_at,
          updated_at,
        }),
      ),
      stop: stop.length === 2 ? { score: stop[0] ?? '0', member: stop[1] ?? '' } : undefined,
    };
  },
});

const READ = new LuaScript('read.lua', {
  keys: ['events'],
  args: ['before', 'beforeId', 'maxCount', 'maxBytes', 'maxEntry', 'types'],
  reply: (r) => ({
    entries: (r.list('entries') as [number, string][]).map(([index, raw]) => ({ index, raw })),
    oversized: r.ints('oversized').length,
    more: r.flag('more'),
  }),
});

/** Index entries a listing page examines at most when filtering by user: never the whole index. */
export const USER_FILTER_BUDGET = { perRow: 10, min: 200 };

export class MemoryStore {
  readonly keys: Keys;
  readonly runner: ScriptRunner;

  constructor(
    redis: RedisClient,
    private readonly limits: StoreLimits,
    private readonly hooks: StoreHooks = {},
  ) {
    this.keys = new Keys(limits.keyPrefix, redis.isCluster);
    this.runner = new ScriptRunner(redis, {
      timeoutMs: limits.timeoutMs,
      minReplicas: limits.minReplicas,
    });
  }

  get clustered(): boolean {
    return this.keys.clustered;
  }

  /** Events one session keeps: a larger batch could not be stored whole. */
  get maxSessionEvents(): number {
    return this.limits.maxSessionEvents;
  }

  /** The bytes of stored events one read returns at most. */
  get maxReadBytes(): number {
    return this.limits.maxReadBytes;
  }

  /** The hash slot a session's transaction runs on (0 outside Cluster: one group). */
  slotOf(k: SessionKeys): number {
    return this.clustered ? keySlot(k.index) : 0;
  }

  /**
   * Resolves when a write would succeed on every part of the topology: each
   * primary (each master serving an index, on Cluster) accepts a write command,
   * and enough replicas are in sync. Throws a StoreError saying why not. The
   * probe is LPUSHX on a key that never exists: a write as far as Redis's checks
   * go (maxmemory, read-only replica, ACL), which stores nothing.
   */
  async ready(): Promise<void> {
    const probes = this.clustered ? this.probeHeads() : this.keys.indexes;
    await Promise.all(
      probes.map((heads) =>
        this.runner.multi(keySlot(heads.index), (tx) => tx.lpushx(heads.probe, '1')),
      ),
    );
  }

  async createSession(
    sessionId: string,
    owner: SessionOwner,
  ): Promise<{ created: boolean; session: SessionWithCount }> {
    const k = this.keys.forSession(sessionId);
    const reply = await this.runner.transact(this.slotOf(k), CREATE, {
      keys: k,
      args: this.writeArgs(sessionId, owner, now()),
    });
    await this.afterCreate(reply);
    return { created: reply.created, session: toSession(sessionId, reply.session, reply.count) };
  }

  async getSession(sessionId: string): Promise<SessionWithCount | undefined> {
    const k = this.keys.forSession(sessionId);
    const redis = this.runner.redis;
    // Two reads, not a MULTI: Redis refuses every MULTI at maxmemory.
    const [hash, count] = await this.runner.deadline(
      Promise.all([redis.hgetall(k.session), redis.llen(k.events)]),
    );
    if (Object.keys(hash).length === 0) return undefined;
    return toSession(sessionId, hash, count);
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    const k = this.keys.forSession(sessionId);
    return this.runner.run(DELETE, { keys: k, args: { sid: sessionId } });
  }

  /**
   * One page of sessions, newest first, merged over every index (one outside
   * Cluster). Complete and duplicate-free across pages: the next cursor never
   * passes an index entry that was not examined.
   */
  async listSessions(opts: {
    limit: number;
    userId?: string | undefined;
    cursor?: SessionCursor | undefined;
  }): Promise<{ sessions: Session[]; next: SessionCursor | undefined }> {
    const budget = opts.userId
      ? Math.max(opts.limit * USER_FILTER_BUDGET.perRow, USER_FILTER_BUDGET.min)
      : opts.limit + 16;
    const replies = await Promise.all(
      this.keys.indexes.map((heads) =>
        this.runner.run(LIST, {
          keys: heads,
          args: {
            maxScore: opts.cursor?.score ?? '+inf',
            afterMember: opts.cursor?.member ?? '',
            limit: opts.limit,
            user: opts.userId ?? '',
            sessionHead: heads.session,
            budget,
          },
        }),
      ),
    );
    const rows: (Session & { score: string })[] = [];
    // The highest point, newest first, where an index stopped before its end:
    // nothing below it was examined there, so this page ends there.
    let frontier: SessionCursor | undefined;
    for (const { rows: indexRows, stop } of replies) {
      rows.push(...indexRows);
      if (stop && (!frontier || newerThan(stop, frontier))) frontier = stop;
    }
    rows.sort((a, b) => (newerThan(cursorOf(a), cursorOf(b)) ? -1 : 1));
    const inRange = frontier ? rows.filter((r) => !newerThan(frontier, cursorOf(r))) : rows;
    const page = inRange.slice(0, opts.limit);
    const last = page.at(-1);
    const next =
      page.length === opts.limit && last && (inRange.length > opts.limit || frontier)
        ? cursorOf(last)
        : frontier;
    return { sessions: page.map(({ score: _score, ...session }) => session), next };
  }

  /** Session ids oldest first, as KAOS's list_sessions returns them (the newest `max`). */
  async sessionIds(max: number): Promise<string[]> {
    const redis = this.runner.redis;
    const lists = await this.runner.deadline(
      Promise.all(
        this.keys.indexes.map((heads) =>
          redis.zrange(heads.index, String(-max), '-1', 'WITHSCORES'),
        ),
      ),
    );
    const all: SessionCursor[] = [];
    for (const flat of lists) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        all.push({ member: flat[i] as string, score: flat[i + 1] as string });
      }
    }
    all.sort((a, b) => (newerThan(a, b) ? 1 : -1));
    return all.slice(-max).map((c) => c.member);
  }

  async appendEvents(
    sessionId: string,
    events: NewEvent[],
    owner: SessionOwner,
  ): Promise<AppendResult> {
    const k = this.keys.forSession(sessionId);
    const t = now();
    const ids = events.map((e) => e.event_id ?? newEventId());
    const rest = events.flatMap((e, i) => [e.event_id ?? '', encodeEvent(e, ids[i] ?? '', t.iso)]);
    const reply = await this.runner.transact(this.slotOf(k), APPEND, {
      keys: k,
      args: this.writeArgs(sessionId, owner, t),
      rest,
    });
    await this.afterCreate(reply);
    return {
      created: reply.created,
      events: ids.map((event_id, i) => ({ event_id, stored: reply.stored[i] === true })),
    };
  }

  /**
   * Events oldest first: the newest `limit` (all the session keeps by default)
   * that fit in the read budget, with a cursor to the older ones. Memory stays
   * bounded whatever is stored: Redis returns only what fits.
   */
  async readEvents(
    sessionId: string,
    opts: {
      limit?: number | undefined;
      types?: readonly string[] | undefined;
      before?: EventCursor | undefined;
      /** A smaller byte budget than the store's (a read that shares its budget). */
      maxBytes?: number | undefined;
    },
  ): Promise<EventPage> {
    const key = this.keys.forSession(sessionId).events;
    const limit = opts.limit ?? this.limits.maxSessionEvents;
    const maxBytes = Math.min(opts.maxBytes ?? Infinity, this.limits.maxReadBytes);
    const { entries, oversized, more } = await this.runner.run(READ, {
      keys: { events: key },
      args: {
        before: opts.before ? opts.before.index : '',
        beforeId: opts.before ? opts.before.eventId : '',
        maxCount: limit,
        maxBytes,
        maxEntry: this.limits.maxReadBytes,
        types: opts.types ? opts.types.join(',') : '',
      },
    });
    entries.reverse(); // oldest first
    const decoded = decodeAll(entries.map((e) => e.raw));
    const kept = opts.types
      ? decoded.events.filter((e) => opts.types?.includes(e.event_type))
      : decoded.events;
    const skipped = { undecodable: decoded.undecodable, oversized };
    if (skipped.undecodable + skipped.oversized > 0) this.hooks.skipped?.(skipped, sessionId);
    // The cursor names the oldest entry read, so what this page passed over is not read again.
    const oldest = entries[0];
    const next =
      more && oldest
        ? { index: oldest.index, eventId: decodeEvent(oldest.raw)?.event_id ?? '' }
        : undefined;
    const bytes = entries.reduce((sum, e) => sum + e.raw.length, 0);
    return { events: kept, next, skipped, bytes };
  }

  // --- plumbing -------------------------------------------------------------

  private writeArgs(sessionId: string, owner: SessionOwner, t: Instant): WriteArgs {
    const l = this.limits;
    const heads = this.keys.headsFor(sessionId);
    return {
      sid: sessionId,
      userId: owner.userId,
      appName: owner.appName,
      nowIso: t.iso,
      nowScore: t.score,
      ttl: l.sessionTtlSeconds,
      maxEvents: l.maxSessionEvents,
      // On Cluster the cap is kept across indexes, after the write (evictAcrossIndexes).
      maxSessions: this.clustered ? 0 : l.maxSessions,
      sessionHead: heads.session,
      eventsHead: heads.events,
    };
  }

  /** After a write: count what its script evicted, and keep the cap across indexes on Cluster. */
  private async afterCreate(reply: { created: boolean; evicted: number }): Promise<void> {
    if (reply.evicted > 0) this.hooks.evicted?.(reply.evicted);
    if (reply.created && this.clustered) await this.evictAcrossIndexes();
  }

  /**
   * Redis Cluster: when the indexes together hold more than maxSessions, delete
   * the oldest across all of them, each only if it was not updated meanwhile.
   * Not atomic across indexes: docs/decisions.md says what it guarantees.
   */
  private async evictAcrossIndexes(): Promise<void> {
    const heads = this.keys.indexes;
    const redis = this.runner.redis;
    const counts = await this.runner.deadline(Promise.all(heads.map((h) => redis.zcard(h.index))));
    const excess = counts.reduce((a, b) => a + b, 0) - this.limits.maxSessions;
    if (excess <= 0) return;
    const oldest = await this.runner.deadline(
      Promise.all(heads.map((h) => redis.zrange(h.index, '0', String(excess - 1), 'WITHSCORES'))),
    );
    const candidates: (SessionCursor & { heads: IndexHeads })[] = [];
    oldest.forEach((flat, i) => {
      for (let j = 0; j + 1 < flat.length; j += 2) {
        candidates.push({
          member: flat[j] as string,
          score: flat[j + 1] as string,
          heads: heads[i] as IndexHeads,
        });
      }
    });
    candidates.sort((a, b) => (newerThan(a, b) ? 1 : -1));
    const evicted = await Promise.all(
      candidates.slice(0, excess).map((c) =>
        this.runner.run(EVICT_IF_UNCHANGED, {
          keys: c.heads,
          args: {
            sid: c.member,
            score: c.score,
            sessionHead: c.heads.session,
            eventsHead: c.heads.events,
          },
        }),
      ),
    );
    const count = evicted.filter(Boolean).length;
    if (count > 0) this.hooks.evicted?.(count);
  }

  /** One index per master: a write to each proves every master accepts writes. */
  private probeHeads(): IndexHeads[] {
    const cluster = this.runner.redis as { slots?: string[][] };
    const seen = new Set<string>();
    const out: IndexHeads[] = [];
    for (const heads of this.keys.indexes) {
      const owner = cluster.slots?.[keySlot(heads.index)]?.[0] ?? heads.index;
      if (seen.has(owner)) continue;
      seen.add(owner);
      out.push(heads);
    }
    return out;
  }
}

/** True when `a` comes before `b` newest first: a higher score, or the same score and a later member. */
export function newerThan(a: SessionCursor, b: SessionCursor): boolean {
  const sa = Number(a.score);
  const sb = Number(b.score);
  if (sa !== sb) return sa > sb;
  return a.member > b.member;
}

function cursorOf(row: { score: string; session_id: string }): SessionCursor {
  return { score: row.score, member: row.session_id };
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
