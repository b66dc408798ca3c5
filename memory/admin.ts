// Whole-store operations, off the request path: walking every index (the
// operator CLI), erasing one user's sessions (privacy requests), and a session
// exported and imported byte for byte. Same keys, scripts and deadlines as the
// store (store.ts), whose connection it shares.
import { now } from './clock.js';
import type { IndexHeads } from './keys.js';
import { LuaScript } from './script.js';
import { LIST, USER_FILTER_BUDGET, type MemoryStore, type SessionCursor } from './store.js';

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

const SESSION_KEYS = ['session', 'events', 'index'] as const;

const ERASE = new LuaScript('erase.lua', {
  keys: ['index', 'holds'],
  args: ['user', 'heads', 'ttl', 'nowIso'],
  rest: true,
  reply: (r) => ({ erased: r.strs('erased'), held: r.strs('held') }),
});

const EXPORT = new LuaScript('export.lua', {
  keys: SESSION_KEYS,
  args: ['sid'],
  reply: (r) => ({
    hash: r.list('hash') as Buffer[],
    events: r.list('events') as Buffer[],
    hashTtl: r.int('hashTtl'),
    eventsTtl: r.int('eventsTtl'),
    score: r.raw('score') as Buffer | null,
  }),
});

const RESTORE = new LuaScript('restore.lua', {
  keys: ['session', 'events', 'index', 'meta', 'ids', 'types', 'pinned', 'digests'],
  args: ['sid', 'replace', 'score', 'hashTtl', 'listTtl', 'fields'],
  rest: true,
  reply: (r) => r.flag('written'),
});

/** Index entries an erasure asks ZSCAN for at a time. */
const ERASE_PAGE = 200;
/** How many times an erasure deletes again sessions a concurrent append re-created. */
const ERASE_ROUNDS = 3;

/** What an erasure by user did. */
export interface Erasure {
  /** Sessions deleted. */
  deleted: number;
  /** Sessions of the user kept because a legal hold is on them. */
  held: number;
  /**
   * Every session of the user that was in the index when the erasure began is gone,
   * except the held ones. False when appends kept re-creating erased sessions (under
   * the same user) faster than it deleted them: repeat the erasure.
   */
  complete: boolean;
}

export class MemoryAdmin {
  constructor(private readonly store: MemoryStore) {}

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
    for (const heads of this.store.keys.indexes) {
      let cursor: SessionCursor | undefined;
      for (;;) {
        const { rows, stop } = await this.store.runner.run(LIST, {
          keys: heads,
          args: {
            maxScore: cursor?.score ?? '+inf',
            afterMember: cursor?.member ?? '',
            limit: opts.pageSize,
            user: opts.userId ?? '',
            heads: heads.json,
            budget,
          },
        });
        const ids = rows.map((row) => row.session_id);
        if (ids.length > 0) yield ids;
        if (!stop) break;
        cursor = stop;
      }
    }
  }

  /**
   * Deletes every session of `userId` across every index, except held ones. Walks
   * each index with ZSCAN, whose guarantee (every member present for the whole walk
   * is returned) does not depend on scores, so a session appended to meanwhile is
   * not missed. Each deletion checks the owner again, atomically, so a session that
   * changed hands is kept, and leaves a tombstone, so a later append re-creates the
   * session under this user and never under another; the sessions re-created during
   * the walk are deleted again, a few times, and `complete` says whether none is left.
   */
  async deleteUserSessions(userId: string, progress?: (deleted: number) => void): Promise<Erasure> {
    const runner = this.store.runner;
    let deleted = 0;
    let held = 0;
    const erased: { heads: IndexHeads; ids: string[] }[] = [];
    const erase = async (heads: IndexHeads, ids: string[]) => {
      const r = await runner.run(ERASE, {
        keys: heads,
        args: {
          user: userId,
          heads: heads.json,
          ttl: this.store.sessionTtlSeconds,
          nowIso: now().iso,
        },
        rest: ids,
      });
      deleted += r.erased.length;
      progress?.(deleted);
      return r;
    };
    for (const heads of this.store.keys.indexes) {
      const ids: string[] = [];
      let cursor = '0';
      do {
        const [nextCursor, flat] = await runner.deadline(
          runner.redis.zscan(heads.index, cursor, 'COUNT', ERASE_PAGE),
        );
        cursor = nextCursor;
        const members = flat.filter((_, i) => i % 2 === 0);
        if (members.length === 0) continue;
        const r = await erase(heads, members);
        ids.push(...r.erased);
        held += r.held.length;
      } while (cursor !== '0');
      erased.push({ heads, ids: [...new Set(ids)] });
    }
    // Appends racing the walk re-create erased sessions (under this user): delete them again.
    let back = erased;
    for (let round = 0; round < ERASE_ROUNDS && back.length > 0; round++) {
      back = await this.recreated(back);
      for (const { heads, ids } of back) await erase(heads, ids);
    }
    if (back.length > 0) back = await this.recreated(back);
    return { deleted, held, complete: back.length === 0 };
  }

  /** Of these erased sessions, those that exist again. */
  private async recreated(
    erased: { heads: IndexHeads; ids: string[] }[],
  ): Promise<{ heads: IndexHeads; ids: string[] }[]> {
    const runner = this.store.runner;
    const out: { heads: IndexHeads; ids: string[] }[] = [];
    for (const { heads, ids } of erased) {
      const exists = await runner.deadline(
        Promise.all(ids.map((id) => runner.redis.exists(heads.session + id))),
      );
      const again = ids.filter((_, i) => exists[i] === 1);
      if (again.length > 0) out.push({ heads, ids: again });
    }
    return out;
  }

  /** One session as stored, byte for byte, or undefined when it does not exist. */
  async exportSession(sessionId: string): Promise<StoredSession | undefined> {
    const r = await this.store.runner.runBuffers(EXPORT, {
      keys: this.store.keys.forSession(sessionId),
      args: { sid: sessionId },
    });
    if (r.hash.length === 0 && r.events.length === 0) return undefined;
    const hash: [Buffer, Buffer][] = [];
    for (let i = 0; i + 1 < r.hash.length; i += 2) {
      hash.push([r.hash[i] as Buffer, r.hash[i + 1] as Buffer]);
    }
    return {
      sessionId,
      score: r.score === null ? undefined : r.score.toString(),
      hash,
      hashTtl: r.hashTtl,
      events: r.events,
      eventsTtl: r.eventsTtl,
    };
  }

  /**
   * Writes an exported session back as it was, in this store's layout (so a session
   * moves between a single Redis and a Cluster). An existing session is kept unless
   * `replace`; resolves with whether it was written. Not subject to MEMORY_MAX_SESSIONS.
   */
  async importSession(session: StoredSession, opts: { replace: boolean }): Promise<boolean> {
    const k = this.store.keys.forSession(session.sessionId);
    return this.store.runner.transact(this.store.slotOf(k), RESTORE, {
      keys: k,
      args: {
        sid: session.sessionId,
        replace: opts.replace ? 1 : 0,
        score: session.score ?? '',
        hashTtl: restoredTtl(session.hashTtl),
        listTtl: restoredTtl(session.eventsTtl),
        fields: session.hash.length,
      },
      rest: [...session.hash.flat(), ...session.events],
    });
  }
}

/** An exported TTL as restored: -1 (none) stays none; a key about to expire keeps a second. */
function restoredTtl(ttl: number): number {
  if (ttl < 0) return -1;
  return Math.max(ttl, 1);
}
