// The memory store on Redis, in KAOS RedisMemory's layout (keys.ts): the request
// path. Each write is one MULTI/EXEC around one script (memory/lua/), batched per
// hash slot; reads are scripts too, outside MULTI, so they keep working when Redis
// is at maxmemory. Every call has a deadline (runner.ts). Whole-store operations
// (export, import, erasure) are in admin.ts.
import { now, type Instant } from './clock.js';
import type { RedisClient } from './connection.js';
import { StoreError } from './errors.js';
import {
  decodeAll,
  decodeEvent,
  encodeEvent,
  newEventId,
  type MemoryEvent,
  type NewEvent,
} from './events.js';
import { keySlot, Keys, type IndexHeads } from './keys.js';
import { pyDumps } from './pyjson.js';
import { ScriptRunner } from './runner.js';
import { LuaScript, type ReplyFields } from './script.js';

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
  /** Events a reader returns: an event_id stored twice counts once (docs/decisions.md). */
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

/**
 * Where a page of events begins: the next page holds the events before this one.
 * A position numbers a session's entries for as long as its index lives (trims
 * do not move it); the event there, when known, finds it again after a rebuild.
 */
export interface EventCursor {
  position: number;
  eventId: string;
}

export interface AppendResult {
  created: boolean;
  /** The session's tag after the append. */
  etag: string;
  /**
   * Per event: stored, or already stored (a retry); `seq` is the sequence number it
   * was stored with (null for one stored by another writer, which assigns none).
   */
  events: { event_id: string; stored: boolean; seq: number | null }[];
  /**
   * The entries stored, oldest first, as Redis now holds them (byte for byte), and the
   * event_id of the entry they follow in the list (undefined: none, or one only a full
   * decode could name): what a live stream at that event sends next, unread.
   */
  appended: () => { previous: string | undefined; entries: string[] };
}

/**
 * An append's precondition (HTTP If-Match): the session must exist and be at one
 * of the tags; `*`, only exist.
 */
export type IfMatch = '*' | readonly string[];

/** Why a digest's range was refused: an event it names is not stored, or from is after to. */
export type RangeRefusal = 'from' | 'to' | 'order';

/** A digest (an event of type `summary`) of the events from one to another, both included. */
export interface NewDigest {
  summary: string;
  fromEventId: string;
  toEventId: string;
  /** More metadata (e.g. `source`, `model`); version, range and seq are the store's. */
  metadata?: Record<string, unknown>;
}

export type DigestResult =
  | { stored: true; event: MemoryEvent; version: number; etag: string }
  | { stored: false; range: RangeRefusal };

/** Stored entries a read passed over, by why. */
export interface Skipped {
  /** Not JSON, not a whole event, or nested too deeply. */
  undecodable: number;
  /** Larger than a whole page may be. */
  oversized: number;
}

export interface EventPage {
  events: MemoryEvent[];
  /**
   * The session's tag as the page's first (newest) read saw it; undefined when the
   * session does not exist. The page holds nothing newer than it.
   */
  etag: string | undefined;
  next: EventCursor | undefined;
  skipped: Skipped;
  /** The stored bytes this page read (the copies' among them). */
  bytes: number;
  /** When asked for: the session's copies, read with the page's newest events. */
  copies?: SessionCopies | undefined;
}

/**
 * The copies the store keeps of a session's pinned events (the newest 50, trimmed from
 * the list or not) and of its newest digest. `complete`: every pinned event and digest
 * the session has is among them, so a reader of the newest events may stop early.
 * Not when an entry was written by another writer (KAOS's Python, an import), more were
 * pinned than are kept, or they did not fit.
 */
export interface SessionCopies {
  /** Oldest first. */
  pinned: MemoryEvent[];
  digest: MemoryEvent | undefined;
  complete: boolean;
}

export type { StoredSession } from './admin.js';

export interface StoreHooks {
  /** Called when a read passes over stored entries it cannot return. */
  skipped?(skipped: Skipped, sessionId: string): void;
  /** Called when sessions were deleted to keep MEMORY_MAX_SESSIONS. */
  evicted?(count: number): void;
  /**
   * Called when bringing a session's index up to its list failed (it runs beside the
   * read that asked for it, so nobody else hears of it); the next read asks again.
   */
  indexFailed?(err: unknown, sessionId: string): void;
}

// --- the scripts of the request path, each with its typed binding -------------

/** A session's keys as the scripts that work on one session name them. */
const ALL_KEYS = [
  'session',
  'events',
  'index',
  'meta',
  'ids',
  'types',
  'pinned',
  'digests',
  'erased',
  'holds',
] as const;
const READ_KEYS = ['session', 'events', 'meta', 'ids', 'types', 'pinned', 'digests'] as const;

const CREATE = new LuaScript('create.lua', {
  keys: ALL_KEYS,
  args: ['sid', 'userId', 'appName', 'nowIso', 'nowScore', 'ttl', 'maxSessions', 'heads'],
  reply: (r) => ({
    created: r.flag('created'),
    evicted: r.int('evicted'),
    session: pairs(r.strs('session')),
    count: r.int('count'),
    tag: r.str('tag'),
  }),
});

const APPEND = new LuaScript('append.lua', {
  keys: ALL_KEYS,
  args: [
    'sid',
    'userId',
    'appName',
    'nowIso',
    'nowScore',
    'ttl',
    'maxEvents',
    'maxSessions',
    'heads',
    'ifMatch',
    'expectVersion',
    'rangeFrom',
    'rangeTo',
  ],
  rest: true,
  reply: (r) => ({
    precondition: r.flag('precondition'),
    tag: optionalStr(r, 'tag'),
    version: r.int('version'),
    conflict: optionalStr(r, 'conflict'),
    range: optionalStr(r, 'range') as RangeRefusal | undefined,
    created: r.flag('created'),
    evicted: r.int('evicted'),
    stored: r.ints('stored').map((flag) => flag === 1),
    seqs: r.ints('seqs').map((seq) => (seq < 0 ? null : seq)),
    previous: r.has('previous') ? optionalStr(r, 'previous') : undefined,
  }),
});

const GET = new LuaScript('get.lua', {
  keys: ['session', 'events', 'meta', 'ids'],
  args: [],
  reply: (r) => ({
    session: pairs(r.strs('session')),
    count: r.int('count'),
    tag: optionalStr(r, 'tag'),
    stale: r.flag('stale'),
    version: r.int('version'),
  }),
});

const DELETE = new LuaScript('delete.lua', {
  keys: ['session', 'events', 'index', 'meta', 'ids', 'types', 'pinned', 'digests'],
  args: ['sid'],
  reply: (r) => ({ deleted: r.int('deleted') > 0, held: r.flag('held') }),
});

const EVICT_IF_UNCHANGED = new LuaScript('evict-if-unchanged.lua', {
  keys: ['index', 'holds'],
  args: ['sid', 'score', 'heads'],
  reply: (r) => r.flag('evicted'),
});

/** One page of one index; admin.ts walks the store with it too. */
export const LIST = new LuaScript('list.lua', {
  keys: ['index'],
  args: ['maxScore', 'afterMember', 'limit', 'user', 'heads', 'budget'],
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
        ]) => ({ session_id, score, user_id, app_name, created_at, updated_at }),
      ),
      stop: stop.length === 2 ? { score: stop[0] ?? '0', member: stop[1] ?? '' } : undefined,
    };
  },
});

const SESSION_IDS = new LuaScript('session-ids.lua', {
  keys: ['index'],
  args: ['from', 'count', 'heads'],
  reply: (r) => ({
    ids: (r.list('ids') as [string, string][]).map(([member, score]) => ({ member, score })),
    next: r.int('next'),
  }),
});

const READ = new LuaScript('read.lua', {
  keys: READ_KEYS,
  args: [
    'before',
    'beforeId',
    'maxCount',
    'maxBytes',
    'pageStarted',
    'maxEntry',
    'types',
    'copies',
  ],
  reply: (r) => {
    const next = r.list('next') as [number, Buffer | string] | [];
    const copies = r.has('copied')
      ? {
          pinned: r.strs('pinned'),
          digest: optionalStr(r, 'digest'),
          copied: r.flag('copied'),
        }
      : undefined;
    return {
      copies,
      entries: positioned(r.list('entries') as (number | Buffer | string)[]),
      oversized: r.int('oversized'),
      next: next.length === 2 ? { position: next[0], eventId: String(next[1]) } : undefined,
      full: r.flag('full'),
      gone: r.flag('gone'),
      stale: r.flag('stale'),
      drift: r.flag('drift'),
      tag: optionalStr(r, 'tag'),
    };
  },
});

const INDEX = new LuaScript('index.lua', {
  keys: ['session', 'events', 'meta', 'ids', 'types', 'pinned', 'digests'],
  args: ['rebuild'],
  reply: (r) => r.flag('stale'),
});

/** Index entries a listing page examines at most when filtering by user: never the whole index. */
export const USER_FILTER_BUDGET = { perRow: 10, min: 200 };
/** Script calls one read of events makes at most; it answers with a cursor past them. */
const READ_CALLS = 16;
/** Index entries session-ids.lua looks at per call. */
const IDS_PAGE = 1000;

export class MemoryStore {
  readonly keys: Keys;
  readonly runner: ScriptRunner;
  /** Sessions whose index is being brought up to date, so reads do not queue the same work. */
  private readonly indexing = new Set<string>();

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

  /** The sliding TTL of a session's keys, seconds. */
  get sessionTtlSeconds(): number {
    return this.limits.sessionTtlSeconds;
  }

  /** The hash slot a session's transaction runs on (0 outside Cluster: one group). */
  slotOf(k: { index: string }): number {
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
        this.runner.multi(keySlot(heads.index), (tx) => tx.call('lpushx', heads.probe, '1')),
      ),
    );
  }

  async createSession(
    sessionId: string,
    owner: SessionOwner,
  ): Promise<{ created: boolean; etag: string; session: SessionWithCount }> {
    const k = this.keys.forSession(sessionId);
    const t = now();
    const reply = await this.runner.transact(this.slotOf(k), CREATE, {
      keys: k,
      args: {
        sid: sessionId,
        userId: owner.userId,
        appName: owner.appName,
        nowIso: t.iso,
        nowScore: t.score,
        ttl: this.limits.sessionTtlSeconds,
        maxSessions: this.localCap(),
        heads: this.keys.headsFor(sessionId).json,
      },
    });
    await this.afterCreate(reply);
    return {
      created: reply.created,
      etag: reply.tag,
      session: toSession(sessionId, reply.session, reply.count),
    };
  }

  /** A session with its event count, or undefined; read-only (works at maxmemory). */
  async getSession(sessionId: string): Promise<SessionWithCount | undefined> {
    return (await this.getSessionTagged(sessionId))?.session;
  }

  /**
   * A session with its event count, its tag and its digest version (what
   * appendDigest's expectVersion is checked against), or undefined.
   */
  async getSessionTagged(
    sessionId: string,
  ): Promise<{ session: SessionWithCount; etag: string; digestVersion: number } | undefined> {
    const k = this.keys.forSession(sessionId);
    const reply = await this.runner.run(GET, { keys: k, args: {} });
    if (reply.stale) this.refreshIndex(sessionId, false);
    if (reply.tag === undefined) return undefined;
    return {
      session: toSession(sessionId, reply.session, reply.count),
      etag: reply.tag,
      digestVersion: reply.version,
    };
  }

  /** False when there is no such session; a held one is refused (StoreError `held`). */
  async deleteSession(sessionId: string): Promise<boolean> {
    const k = this.keys.forSession(sessionId);
    const reply = await this.runner.run(DELETE, { keys: k, args: { sid: sessionId } });
    if (reply.held) {
      throw new StoreError('held', `session ${sessionId} is under a legal hold; release it first`);
    }
    return reply.deleted;
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
            heads: heads.json,
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

  /**
   * Session ids oldest first, as KAOS's list_sessions returns them (the newest
   * `max`); an index entry whose session expired is removed, never listed.
   */
  async sessionIds(max: number): Promise<string[]> {
    const perIndex = await Promise.all(
      this.keys.indexes.map(async (heads) => {
        const found: SessionCursor[] = [];
        for (let from = 0; from >= 0 && found.length < max;) {
          const page = await this.runner.run(SESSION_IDS, {
            keys: heads,
            args: { from, count: Math.min(IDS_PAGE, max - found.length), heads: heads.json },
          });
          found.push(...page.ids);
          from = page.next;
        }
        return found;
      }),
    );
    const all = perIndex.flat();
    all.sort((a, b) => (newerThan(a, b) ? 1 : -1));
    return all.slice(-max).map((c) => c.member);
  }

  /**
   * Appends events, creating the session when absent; each stored event gets the
   * session's next `metadata.seq` (one the caller set is replaced). An event_id
   * already stored is not stored again; reused with other content, the append is
   * refused whole (StoreError `conflict`). With `ifMatch`, nothing is stored unless
   * the session exists at one of those tags (StoreError `precondition` with the
   * current tag). Work is bounded by the batch, whatever the session holds.
   */
  async appendEvents(
    sessionId: string,
    events: NewEvent[],
    owner: SessionOwner,
    opts: { ifMatch?: IfMatch | undefined } = {},
  ): Promise<AppendResult> {
    const t = now();
    const ids = events.map((e) => e.event_id ?? newEventId());
    const rest = events.flatMap((e, i) =>
      appendArgs(e, ids[i] ?? '', t.iso, { check: e.event_id !== undefined }),
    );
    const reply = await this.append(sessionId, owner, t, rest, { ifMatch: opts.ifMatch });
    return {
      created: reply.created,
      etag: reply.tag ?? '',
      events: ids.map((event_id, i) => ({
        event_id,
        stored: reply.stored[i] === true,
        seq: reply.seqs[i] ?? null,
      })),
      appended: () => ({
        previous: reply.previous === undefined ? undefined : idOfToken(reply.previous),
        entries: storedEntries(rest, reply.stored, reply.seqs),
      }),
    };
  }

  /**
   * Appends a digest of an existing session's events `fromEventId`..`toEventId`: an
   * event of type `summary` whose metadata gets the session's next digest
   * `version` (and `seq`), with a copy in the digests list. Nothing is stored
   * (StoreError `precondition`) unless the session exists and, with `ifMatch`, is
   * at one of those tags, and, with `expectVersion`, at that digest version (so a
   * fold racing another never writes a stale digest); nor (`stored: false`) unless
   * both events are stored, from not after to.
   */
  async appendDigest(
    sessionId: string,
    digest: NewDigest,
    opts: { ifMatch?: IfMatch | undefined; expectVersion?: number | undefined },
  ): Promise<DigestResult> {
    const t = now();
    const eventId = newEventId();
    const { version: _v, seq: _s, ...extra } = digest.metadata ?? {};
    const event: NewEvent = {
      event_type: 'summary',
      content: digest.summary,
      metadata: {
        from_event_id: digest.fromEventId,
        to_event_id: digest.toEventId,
        ...withoutRange(extra),
      },
    };
    const rest = appendArgs(event, eventId, t.iso, { check: false, digest: true });
    const reply = await this.append(sessionId, DIGEST_OWNER, t, rest, {
      ifMatch: opts.ifMatch ?? '*',
      expectVersion: opts.expectVersion,
      range: [digest.fromEventId, digest.toEventId],
    });
    if (reply.range !== undefined) return { stored: false, range: reply.range };
    const seq = reply.seqs[0] ?? 0;
    return {
      stored: true,
      version: reply.version,
      etag: reply.tag ?? '',
      event: {
        event_id: eventId,
        timestamp: t.iso,
        event_type: 'summary',
        content: digest.summary,
        metadata: { ...event.metadata, version: reply.version, seq },
      },
    };
  }

  /**
   * Events oldest first: the newest `limit` (all the session keeps by default)
   * that fit in the read budget, with a cursor to the older ones. Memory stays
   * bounded whatever is stored: Redis returns only what fits, and each script
   * call reads within its budget (a type filter reads only the entries it keeps,
   * by the index), so a page may take several calls, and at most READ_CALLS.
   */
  async readEvents(
    sessionId: string,
    opts: {
      limit?: number | undefined;
      types?: readonly string[] | undefined;
      before?: EventCursor | undefined;
      /** A smaller byte budget than the store's (a read that shares its budget). */
      maxBytes?: number | undefined;
      /** Also read the session's copies (`EventPage.copies`). */
      copies?: boolean | undefined;
    },
  ): Promise<EventPage> {
    const raw = await this.readEntries(sessionId, opts);
    const decoded = decodeAll(raw.entries.map((e) => e.raw).reverse()); // oldest first
    const events = opts.types
      ? decoded.events.filter((e) => opts.types?.includes(e.event_type))
      : decoded.events;
    const skipped = { undecodable: decoded.undecodable, oversized: raw.oversized };
    if (skipped.undecodable + skipped.oversized > 0) this.hooks.skipped?.(skipped, sessionId);
    const copies = raw.copies && decodeCopies(raw.copies);
    return {
      events,
      etag: raw.etag,
      next: raw.next,
      skipped,
      bytes: raw.bytes + (copies?.bytes ?? 0),
      copies: copies?.copies,
    };
  }

  /** readEvents' script calls: the raw entries, newest first, and the copies when asked. */
  private async readEntries(
    sessionId: string,
    opts: Parameters<MemoryStore['readEvents']>[1],
  ): Promise<RawRead> {
    const k = this.keys.forSession(sessionId);
    const limit = opts.limit ?? this.limits.maxSessionEvents;
    const maxBytes = Math.min(opts.maxBytes ?? Infinity, this.limits.maxReadBytes);
    const types = opts.types ? opts.types.map((t) => pyDumps(t)).join('\n') : '';
    const out: RawRead = {
      entries: [],
      oversized: 0,
      next: undefined,
      etag: undefined,
      bytes: 0,
      copies: undefined,
    };
    let before = opts.before;
    for (let calls = 0; calls < READ_CALLS; calls++) {
      const r = await this.runner.runBuffers(READ, {
        keys: k,
        args: {
          before: before ? before.position : '',
          beforeId: before ? before.eventId : '',
          maxCount: limit - out.entries.length,
          maxBytes: maxBytes - out.bytes,
          pageStarted: out.entries.length > 0 ? 1 : 0,
          maxEntry: this.limits.maxReadBytes,
          types,
          copies: opts.copies && calls === 0 ? 1 : '',
        },
      });
      if (r.stale || r.drift) this.refreshIndex(sessionId, r.drift);
      if (calls === 0) ({ tag: out.etag, copies: out.copies } = r);
      for (const e of r.entries) {
        out.entries.push(e);
        out.bytes += e.raw.length;
      }
      out.oversized += r.oversized;
      out.next = r.next;
      if (!out.next || r.full || r.gone || out.entries.length >= limit) break;
      before = out.next;
    }
    return out;
  }

  // --- plumbing -------------------------------------------------------------

  /** One run of append.lua; throws its refusals as StoreErrors. */
  private async append(
    sessionId: string,
    owner: SessionOwner,
    t: Instant,
    rest: (string | number)[],
    opts: {
      ifMatch?: IfMatch | undefined;
      expectVersion?: number | undefined;
      /** The event ids a digest covers: both must be stored, in this order. */
      range?: [string, string];
    },
  ) {
    const k = this.keys.forSession(sessionId);
    const reply = await this.runner.transact(this.slotOf(k), APPEND, {
      keys: k,
      args: {
        sid: sessionId,
        userId: owner.userId,
        appName: owner.appName,
        nowIso: t.iso,
        nowScore: t.score,
        ttl: this.limits.sessionTtlSeconds,
        maxEvents: this.limits.maxSessionEvents,
        maxSessions: this.localCap(),
        heads: this.keys.headsFor(sessionId).json,
        ifMatch: ifMatchArg(opts.ifMatch),
        expectVersion: opts.expectVersion ?? '',
        rangeFrom: opts.range?.[0] ?? '',
        rangeTo: opts.range?.[1] ?? '',
      },
      rest,
    });
    if (reply.precondition) {
      throw new StoreError(
        'precondition',
        reply.tag === undefined
          ? `session ${sessionId} does not exist`
          : `session ${sessionId} is not at the tag or digest version required (it is at ${reply.tag}, digest version ${reply.version})`,
        { etag: reply.tag },
      );
    }
    if (reply.conflict !== undefined) {
      throw new StoreError(
        'conflict',
        `event_id ${reply.conflict} is already stored with another type or content; nothing was stored`,
      );
    }
    await this.afterCreate(reply);
    return reply;
  }

  /** The cap each index keeps itself: on Cluster it is kept across indexes (evictAcrossIndexes). */
  private localCap(): number {
    return this.clustered ? 0 : this.limits.maxSessions;
  }

  /**
   * Brings a session's index up to its list, off the read's path: a read found
   * entries written straight to Redis, or a session indexed only in part. A write
   * (MULTI), so it fails harmlessly when Redis refuses writes; one at a time per session.
   */
  private refreshIndex(sessionId: string, rebuild: boolean): void {
    if (this.indexing.has(sessionId)) return;
    this.indexing.add(sessionId);
    const k = this.keys.forSession(sessionId);
    this.runner
      .transact(this.slotOf(k), INDEX, { keys: k, args: { rebuild: rebuild ? 1 : 0 } })
      .catch((err: unknown) => this.hooks.indexFailed?.(err, sessionId))
      .finally(() => this.indexing.delete(sessionId));
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
          args: { sid: c.member, score: c.score, heads: c.heads.json },
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

/**
 * What append.lua takes per event: flags (c: check its event_id, p: pinned, d: a
 * digest, m: metadata not empty), where `, "metadata": ` starts in its JSON (1-based),
 * and the JSON without its closing `}}`, so the script puts `"seq": N` last in the
 * metadata. A `seq` the caller set is replaced (it is the store's).
 */
export function appendArgs(
  event: NewEvent,
  eventId: string,
  timestamp: string,
  opts: { check: boolean; digest?: boolean },
): [string, number, string] {
  const { seq: _seq, ...metadata } = event.metadata ?? {};
  const json = encodeEvent({ ...event, metadata }, eventId, timestamp);
  const metaJson = pyDumps(metadata);
  const at = Buffer.byteLength(json) - Buffer.byteLength(`, "metadata": ${metaJson}}`) + 1;
  let flags = opts.check ? 'c' : '';
  if (metadata.pinned === true) flags += 'p';
  if (opts.digest) flags += 'd';
  else if (event.event_type === 'summary') flags += 'u';
  if (metaJson !== '{}') flags += 'm';
  return [flags, at, json.slice(0, -2)];
}

/**
 * The entries append.lua stored from appendArgs' triples: each body with its
 * sequence number closing the metadata, as the script writes it.
 */
function storedEntries(
  rest: (string | number)[],
  stored: boolean[],
  seqs: (number | null)[],
): string[] {
  const entries: string[] = [];
  for (let i = 0; i < stored.length; i++) {
    if (!stored[i]) continue;
    const flags = rest[3 * i] as string;
    const body = rest[3 * i + 2] as string;
    entries.push(`${body}${flags.includes('m') ? ', ' : ''}"seq": ${seqs[i]}}}`);
  }
  return entries;
}

/**
 * An event_id from its JSON token (quotes included), as append.lua returns it; undefined
 * for one with an escape, which no id the sidecar accepts has (a stream then reads).
 */
function idOfToken(token: string): string | undefined {
  return token.includes('\\') ? undefined : token.slice(1, -1);
}

/** A session tag as append.lua compares it: no space, nothing Redis would not return. */
const TAG = /^[0-9]+-[0-9a-f]{16}$/;
/** Never a tag: an If-Match naming none a session could have matches none. */
const NO_TAG = '-';

/** append.lua's ifMatch: "" for none, "*", or the tags space-separated. */
function ifMatchArg(ifMatch: IfMatch | undefined): string {
  if (ifMatch === undefined) return '';
  if (ifMatch === '*') return '*';
  const tags = ifMatch.filter((tag) => TAG.test(tag));
  return tags.length > 0 ? tags.join(' ') : NO_TAG;
}

function withoutRange(metadata: Record<string, unknown>): Record<string, unknown> {
  const { from_event_id: _f, to_event_id: _t, ...rest } = metadata;
  return rest;
}

/** The owner a digest's append would create a session with: never, it must exist (ifMatch). */
const DIGEST_OWNER: SessionOwner = { userId: 'user', appName: 'agent' };

/** A score as Redis prints it (`inf` included) as a number. */
export function scoreValue(score: string): number {
  if (/^\+?inf$/i.test(score)) return Infinity;
  if (/^-inf$/i.test(score)) return -Infinity;
  return Number(score);
}

/** True when `a` comes before `b` newest first: a higher score, or the same score and a later member. */
export function newerThan(a: SessionCursor, b: SessionCursor): boolean {
  const sa = scoreValue(a.score);
  const sb = scoreValue(b.score);
  if (sa !== sb) return sa > sb;
  return a.member > b.member;
}

function cursorOf(row: { score: string; session_id: string }): SessionCursor {
  return { score: row.score, member: row.session_id };
}

/** read.lua's entries as it returns them: position, entry, position, entry… */
function positioned(flat: (number | Buffer | string)[]): { position: number; raw: Buffer }[] {
  const out: { position: number; raw: Buffer }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const raw = flat[i + 1] as Buffer | string;
    out.push({ position: flat[i] as number, raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw) });
  }
  return out;
}

/** read.lua's copies as it returns them: pinned newest first. */
type RawCopies = { pinned: string[]; digest: string | undefined; copied: boolean };

/** What readEvents' script calls returned, before decoding: entries newest first. */
interface RawRead {
  /** As Redis sent them: bytes off the V8 heap until a request decodes them. */
  entries: { position: number; raw: Buffer }[];
  oversized: number;
  next: EventCursor | undefined;
  etag: string | undefined;
  /** The entries' bytes. */
  bytes: number;
  copies: RawCopies | undefined;
}

/** read.lua's copies, decoded; an undecodable one makes them incomplete. */
function decodeCopies(raw: RawCopies): {
  copies: SessionCopies;
  bytes: number;
} {
  const pinned = decodeAll([...raw.pinned].reverse());
  const digest = raw.digest === undefined ? undefined : decodeEvent(raw.digest);
  let bytes = 0;
  for (const item of raw.pinned) bytes += Buffer.byteLength(item);
  if (raw.digest !== undefined) bytes += Buffer.byteLength(raw.digest);
  const undecodable = pinned.undecodable > 0 || (raw.digest !== undefined && !digest);
  return {
    copies: { pinned: pinned.events, digest, complete: raw.copied && !undecodable },
    bytes,
  };
}

function optionalStr(r: ReplyFields, name: string): string | undefined {
  return r.raw(name) === null ? undefined : r.str(name);
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
