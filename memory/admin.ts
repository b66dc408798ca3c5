// Whole-store operations, off the request path: walking every index (the
// operator CLI), erasing one user's sessions (privacy requests), and a session
// exported and imported byte for byte. Same keys, scripts and deadlines as the
// store (store.ts), whose connection it shares.
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

const DELETE_IF_OWNER = new LuaScript('delete-if-owner.lua', {
  keys: SESSION_KEYS,
  args: ['sid', 'user'],
  reply: (r) => r.flag('deleted'),
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
  keys: SESSION_KEYS,
  args: ['sid', 'replace', 'score', 'hashTtl', 'listTtl', 'fields'],
  rest: true,
  reply: (r) => r.flag('written'),
});

/** Sessions an erasure looks for per index page. */
const ERASE_PAGE = 200;

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
            sessionHead: heads.session,
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
   * Deletes every session of `userId` across every index; resolves with how many.
   * Each deletion checks the owner again, atomically, so a session that changed
   * hands meanwhile is kept.
   */
  async deleteUserSessions(userId: string, progress?: (deleted: number) => void): Promise<number> {
    let deleted = 0;
    for await (const ids of this.sessionPages({ pageSize: ERASE_PAGE, userId })) {
      const results = await Promise.all(
        ids.map((id) =>
          this.store.runner.run(DELETE_IF_OWNER, {
            keys: this.store.keys.forSession(id),
            args: { sid: id, user: userId },
          }),
        ),
      );
      deleted += results.filter(Boolean).length;
      progress?.(deleted);
    }
    return deleted;
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
