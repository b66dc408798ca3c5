// The memory store on Redis, in KAOS RedisMemory's layout (keys.ts). Each write
// is one MULTI/EXEC around one script (scripts.ts), batched per hash slot
// (batch.ts); reads are scripts too, outside MULTI, so they keep working when
// Redis is at maxmemory. Every call has a deadline.
import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import { TransactionBatcher } from './batch.js';
import { now, type Instant } from './clock.js';
import type { RedisClient } from './connection.js';
import { StoreError, classify } from './errors.js';
import {
  decodeAll,
  decodeEvent,
  encodeEvent,
  newEventId,
  type MemoryEvent,
  type NewEvent,
} from './events.js';
import { keySlot, Keys, type IndexHeads, type SessionKeys } from './keys.js';
import {
  APPEND_EVENTS,
  CREATE_SESSION,
  DELETE_IF_OWNER,
  DELETE_SESSION,
  EVICT_IF_UNCHANGED,
  EXPORT_SESSION,
  LIST_SESSIONS,
  READ_EVENTS,
  RESTORE_SESSION,
} from './scripts.js';

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

/**
 * One session exactly as stored, for export and import: the raw bytes of every hash
 * field and list entry, each key's remaining TTL (seconds; -1 for none, -2 for a key
 * that does not exist) and the session's index score.
 */
export interface StoredSession {
  sessionId: string;
  /** The index score as Redis prints it, or undefined when the index does not list it. */
  score: string | undefined;
  /** HGETALL, in Redis's order. */
  hash: [Buffer, Buffer][];
  hashTtl: number;
  /** The list, oldest first. */
  events: Buffer[];
  eventsTtl: number;
}

export interface StoreHooks {
  /** Called when a read passes over stored entries it cannot return. */
  skipped?(skipped: Skipped, sessionId: string): void;
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
  evict: new Script(EVICT_IF_UNCHANGED),
  list: new Script(LIST_SESSIONS),
  read: new Script(READ_EVENTS),
  deleteIfOwner: new Script(DELETE_IF_OWNER),
  export: new Script(EXPORT_SESSION),
  restore: new Script(RESTORE_SESSION),
};

/** How long WAIT may block: the rest of the call's deadline, less time for the reply. */
const WAIT_SHARE = 0.75;
/** Index entries a listing page examines at most when filtering by user: never the whole index. */
const USER_FILTER_BUDGET = { perRow: 10, min: 200 };
/** Sessions an erasure looks for per index page. */
const ERASE_PAGE = 200;

export class MemoryStore {
  readonly keys: Keys;
  private readonly batcher: TransactionBatcher;

  constructor(
    private readonly redis: RedisClient,
    private readonly limits: StoreLimits,
    private readonly hooks: StoreHooks = {},
  ) {
    this.keys = new Keys(limits.keyPrefix, redis.isCluster);
    this.batcher = new TransactionBatcher(redis, {
      minReplicas: limits.minReplicas,
      waitMs: Math.floor(limits.timeoutMs * WAIT_SHARE),
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

  /**
   * Resolves when a write would succeed on every part of the topology: each
   * primary (each master serving an index, on Cluster) accepts a write command,
   * and enough replicas are in sync. Throws a StoreError saying why not. The
   * probe is LPUSHX on a key that never exists: a write as far as Redis's checks
   * go (maxmemory, read-only replica, ACL), which stores nothing.
   */
  async ready(): Promise<void> {
    const probes = this.clustered ? this.probeHeads() : this.keys.indexes;
    await this.deadline(
      Promise.all(
        probes.map((heads) =>
          this.batcher.run(keySlot(heads.index), (tx) => tx.lpushx(heads.probe, '1')),
        ),
      ),
    );
  }

  async createSession(
    sessionId: string,
    owner: SessionOwner,
  ): Promise<{ created: boolean; session: SessionWithCount }> {
    const k = this.keys.forSession(sessionId);
    const t = now();
    const reply = (await this.transact(SCRIPTS.create, k, this.writeArgs(sessionId, owner, t))) as [
      number,
      number,
      string[],
      number,
    ];
    const created = reply[0] === 1;
    if (created) await this.evictAcrossIndexes();
    return { created, session: toSession(sessionId, pairs(reply[2]), reply[3]) };
  }

  async getSession(sessionId: string): Promise<SessionWithCount | undefined> {
    const k = this.keys.forSession(sessionId);
    // Two reads, not a MULTI: Redis refuses every MULTI at maxmemory.
    const [hash, count] = await this.deadline(
      Promise.all([this.redis.hgetall(k.session), this.redis.llen(k.events)]),
    );
    if (Object.keys(hash).length === 0) return undefined;
    return toSession(sessionId, hash, count);
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    const k = this.keys.forSession(sessionId);
    const deleted = await this.deadline(
      this.evalScript(SCRIPTS.delete, [k.session, k.events, k.index], [sessionId]),
    );
    return Number(deleted) > 0;
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
    const replies = (await this.deadline(
      Promise.all(
        this.keys.indexes.map((heads) =>
          this.evalScript(
            SCRIPTS.list,
            [heads.index],
            [
              opts.cursor?.score ?? '+inf',
              opts.cursor?.member ?? '',
              opts.limit,
              opts.userId ?? '',
              heads.session,
              budget,
            ],
          ),
        ),
      ),
    )) as [string[][], string[]][];
    const rows: (Session & { score: string })[] = [];
    // The highest point, newest first, where an index stopped before its end:
    // nothing below it was examined there, so this page ends there.
    let frontier: SessionCursor | undefined;
    for (const [indexRows, stop] of replies) {
      for (const [
        session_id = '',
        score = '0',
        user_id = '',
        app_name = '',
        created_at = '',
        updated_at = '',
      ] of indexRows) {
        rows.push({ session_id, score, user_id, app_name, created_at, updated_at });
      }
      if (stop.length === 2) {
        const at = { score: stop[0] ?? '0', member: stop[1] ?? '' };
        if (!frontier || newerThan(at, frontier)) frontier = at;
      }
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
    const lists = await this.deadline(
      Promise.all(
        this.keys.indexes.map((heads) =>
          this.redis.zrange(heads.index, String(-max), '-1', 'WITHSCORES'),
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
    const args = this.writeArgs(sessionId, owner, t);
    events.forEach((e, i) => args.push(e.event_id ?? '', encodeEvent(e, ids[i] ?? '', t.iso)));
    const reply = (await this.transact(SCRIPTS.append, k, args)) as [number, number, number[]];
    const created = reply[0] === 1;
    if (created) await this.evictAcrossIndexes();
    return {
      created,
      events: ids.map((event_id, i) => ({ event_id, stored: reply[2][i] === 1 })),
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
    const [, entries, oversized, more] = (await this.deadline(
      this.evalScript(
        SCRIPTS.read,
        [key],
        [
          opts.before ? opts.before.index : '',
          opts.before ? opts.before.eventId : '',
          limit,
          maxBytes,
          this.limits.maxReadBytes,
          opts.types ? opts.types.join(',') : '',
        ],
      ),
    )) as [number, [number, string][], number[], number];
    entries.reverse(); // oldest first
    const decoded = decodeAll(entries.map(([, raw]) => raw));
    const kept = opts.types
      ? decoded.events.filter((e) => opts.types?.includes(e.event_type))
      : decoded.events;
    const skipped = { undecodable: decoded.undecodable, oversized: oversized.length };
    if (skipped.undecodable + skipped.oversized > 0) this.hooks.skipped?.(skipped, sessionId);
    // The cursor names the oldest entry read, so what this page passed over is not read again.
    const oldest = entries[0];
    const next =
      more === 1 && oldest
        ? { index: oldest[0], eventId: decodeEvent(oldest[1])?.event_id ?? '' }
        : undefined;
    const bytes = entries.reduce((sum, [, raw]) => sum + raw.length, 0);
    return { events: kept, next, skipped, bytes };
  }

  // --- whole-store operations (the operator CLI, erasure) ----------------------

  /**
   * Every session id in the indexes, a page at a time, index after index (newest
   * first within each): never the whole index in memory. With `userId`, only that
   * user's sessions (a page may then be empty). Expired index entries are pruned on
   * the way, as listing does.
   */
  async *sessionPages(opts: {
    pageSize: number;
    userId?: string | undefined;
  }): AsyncGenerator<string[]> {
    const budget = opts.userId ? opts.pageSize * USER_FILTER_BUDGET.perRow : opts.pageSize;
    for (const heads of this.keys.indexes) {
      let cursor: SessionCursor | undefined;
      for (;;) {
        const [rows, stop] = (await this.deadline(
          this.evalScript(
            SCRIPTS.list,
            [heads.index],
            [
              cursor?.score ?? '+inf',
              cursor?.member ?? '',
              opts.pageSize,
              opts.userId ?? '',
              heads.session,
              budget,
            ],
          ),
        )) as [string[][], string[]];
        const ids = rows.map((row) => row[0] ?? '');
        if (ids.length > 0) yield ids;
        if (stop.length !== 2) break;
        cursor = { score: stop[0] ?? '0', member: stop[1] ?? '' };
      }
    }
  }

  /**
   * Deletes every session of `userId` across every index; resolves with how many.
   * Each deletion checks the owner again, atomically, so a session that changed
   * hands meanwhile is kept.
   */
  async deleteUserSessions(userId: string, progress?: (deleted: number) => void): Promise<number> {
    let deleted = 0;
    for await (const ids of this.sessionPages({ pageSize: ERASE_PAGE, userId })) {
      const results = await this.deadline(
        Promise.all(
          ids.map((id) => {
            const k = this.keys.forSession(id);
            return this.evalScript(
              SCRIPTS.deleteIfOwner,
              [k.session, k.events, k.index],
              [id, userId],
            );
          }),
        ),
      );
      deleted += results.filter((r) => Number(r) === 1).length;
      progress?.(deleted);
    }
    return deleted;
  }

  /** One session as stored, byte for byte, or undefined when it does not exist. */
  async exportSession(sessionId: string): Promise<StoredSession | undefined> {
    const k = this.keys.forSession(sessionId);
    const [flat, events, hashTtl, eventsTtl, score] = (await this.deadline(
      this.evalScriptBuffer(SCRIPTS.export, [k.session, k.events, k.index], [sessionId]),
    )) as [Buffer[], Buffer[], number, number, Buffer | null];
    if (flat.length === 0 && events.length === 0) return undefined;
    const hash: [Buffer, Buffer][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      hash.push([flat[i] as Buffer, flat[i + 1] as Buffer]);
    }
    return {
      sessionId,
      score: score === null ? undefined : score.toString(),
      hash,
      hashTtl: Number(hashTtl),
      events,
      eventsTtl: Number(eventsTtl),
    };
  }

  /**
   * Writes an exported session back as it was, in this store's layout (so a session
   * moves between a single Redis and a Cluster). An existing session is kept unless
   * `replace`; resolves with whether it was written. Not subject to MEMORY_MAX_SESSIONS.
   */
  async importSession(session: StoredSession, opts: { replace: boolean }): Promise<boolean> {
    const k = this.keys.forSession(session.sessionId);
    const args: (string | number | Buffer)[] = [
      session.sessionId,
      opts.replace ? 1 : 0,
      session.score ?? '',
      restoredTtl(session.hashTtl),
      restoredTtl(session.eventsTtl),
      session.hash.length,
      ...session.hash.flat(),
      ...session.events,
    ];
    return Number(await this.transact(SCRIPTS.restore, k, args)) === 1;
  }

  // --- plumbing -------------------------------------------------------------

  /** ARGV[1..10] of the write scripts: the session, the moment, the limits, the key heads. */
  private writeArgs(sessionId: string, owner: SessionOwner, t: Instant): (string | number)[] {
    const l = this.limits;
    const heads = this.keys.headsFor(sessionId);
    return [
      sessionId,
      owner.userId,
      owner.appName,
      t.iso,
      t.score,
      l.sessionTtlSeconds,
      l.maxSessionEvents,
      // On Cluster the cap is kept across indexes, after the write (evictAcrossIndexes).
      this.clustered ? 0 : l.maxSessions,
      heads.session,
      heads.events,
    ];
  }

  /** One write script in one MULTI/EXEC, batched with the others of this turn in its slot. */
  private async transact(
    script: Script,
    k: SessionKeys,
    args: (string | number | Buffer)[],
  ): Promise<unknown> {
    const keys = [k.session, k.events, k.index];
    const argv = args.map((a) => (Buffer.isBuffer(a) ? a : String(a)));
    const slot = this.clustered ? keySlot(k.index) : 0;
    const run = (useSha: boolean) =>
      this.deadline(
        this.batcher.run(slot, (tx) =>
          useSha
            ? tx.evalsha(script.sha, String(keys.length), ...keys, ...argv)
            : tx.eval(script.lua, String(keys.length), ...keys, ...argv),
        ),
      );
    try {
      try {
        return (await run(true))[0];
      } catch (err) {
        // First use on this node (or after a restart): EVAL runs it and caches it there.
        if (!isNoScript(err)) throw err;
        return (await run(false))[0];
      }
    } catch (err) {
      throw outcomeUnknown(err);
    }
  }

  /** A script outside MULTI (reads, deletes): EVALSHA, or EVAL when the node lacks it. */
  private async evalScript(
    script: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const argv = args.map(String);
    try {
      return await this.redis.evalsha(script.sha, keys.length, ...keys, ...argv);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.redis.eval(script.lua, keys.length, ...keys, ...argv);
    }
  }

  /** Like evalScript, with every bulk string in the reply as a Buffer (bytes, not text). */
  private async evalScriptBuffer(
    script: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const argv = args.map(String);
    // A Command with no reply encoding, not callBuffer: with auto-pipelining on, ioredis
    // 6 drops callBuffer's command name.
    const send = (name: string, head: string) =>
      this.redis.sendCommand(
        new Command(name, [head, keys.length, ...keys, ...argv], { replyEncoding: null }),
      );
    try {
      return await send('evalsha', script.sha);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return send('eval', script.lua);
    }
  }

  /**
   * Redis Cluster: when the indexes together hold more than maxSessions, delete
   * the oldest across all of them, each only if it was not updated meanwhile.
   * Not atomic across indexes: docs/decisions.md says what it guarantees.
   */
  private async evictAcrossIndexes(): Promise<void> {
    if (!this.clustered) return;
    const heads = this.keys.indexes;
    const counts = await this.deadline(Promise.all(heads.map((h) => this.redis.zcard(h.index))));
    const excess = counts.reduce((a, b) => a + b, 0) - this.limits.maxSessions;
    if (excess <= 0) return;
    const oldest = await this.deadline(
      Promise.all(
        heads.map((h) => this.redis.zrange(h.index, '0', String(excess - 1), 'WITHSCORES')),
      ),
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
    await this.deadline(
      Promise.all(
        candidates
          .slice(0, excess)
          .map((c) =>
            this.evalScript(
              SCRIPTS.evict,
              [c.heads.index],
              [c.member, c.score, c.heads.session, c.heads.events],
            ),
          ),
      ),
    );
  }

  /** One index per master: a write to each proves every master accepts writes. */
  private probeHeads(): IndexHeads[] {
    const cluster = this.redis as { slots?: string[][] };
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

  /** Every call has a deadline: a hung Redis becomes a 503, never a hung request. */
  private deadline<T>(promise: Promise<T>): Promise<T> {
    const ms = this.limits.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreError('timeout', `redis did not answer within ${ms} ms`)),
        ms,
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(toStoreError(err));
        },
      );
    });
  }
}

/** A StoreError for a known condition of the server; anything else as an Error. */
function toStoreError(err: unknown): Error {
  if (err instanceof StoreError) return err;
  const kind = classify(err);
  if (kind === undefined) return err instanceof Error ? err : new Error(String(err));
  const messages: Record<string, string> = {
    unavailable: 'redis is unavailable',
    timeout: 'redis did not answer in time',
    auth: 'redis refused the credentials',
    oom: 'redis is out of memory (maxmemory reached)',
    readonly: 'redis is read-only here (a replica; a failover may be under way)',
    replicas: 'too few redis replicas confirmed the write',
    layout: 'a key in the memory layout holds another type',
  };
  const detail =
    kind === 'layout' && err instanceof Error
      ? `: ${err.message.replace(/^.*kaos-layout: /, '')}`
      : '';
  return new StoreError(kind, `${messages[kind] ?? kind}${detail}`, { cause: err });
}

/** A write cut off in flight may have been applied: say so, and how to retry safely. */
function outcomeUnknown(err: unknown): unknown {
  if (!(err instanceof StoreError) || (err.kind !== 'unavailable' && err.kind !== 'timeout')) {
    return err;
  }
  return new StoreError(
    err.kind,
    `${err.message}; the write may or may not have been stored: retry it with the same event_id`,
    { cause: err.cause },
  );
}

/** An exported TTL as restored: -1 (none) stays none; a key about to expire keeps a second. */
function restoredTtl(ttl: number): number {
  if (ttl < 0) return -1;
  return Math.max(ttl, 1);
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}

/** True when `a` comes before `b` newest first: a higher score, or the same score and a later member. */
function newerThan(a: SessionCursor, b: SessionCursor): boolean {
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
