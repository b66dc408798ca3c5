// Legal holds and idle-close, over the store's keys and connection: a held session
// has no TTL and is skipped by eviction and erasure by user (the scripts check the
// index's holds set) until released; an idle session gets one session_closed event.
import { now } from './clock.js';
import type { IndexHeads } from './keys.js';
import { LuaScript } from './script.js';
import type { MemoryStore } from './store.js';

const SESSION = ['session', 'events', 'index', 'meta', 'ids', 'types', 'pinned', 'digests'];

const HOLD = new LuaScript('hold.lua', {
  keys: [...SESSION, 'holds'] as const,
  args: ['sid', 'reason', 'nowIso', 'nowScore'],
  reply: (r) => ({ exists: r.flag('exists'), since: r.has('since') ? r.raw('since') : null }),
});

const RELEASE = new LuaScript('release.lua', {
  keys: ['session', 'events', 'meta', 'ids', 'types', 'pinned', 'digests', 'holds'],
  args: ['sid', 'ttl'],
  reply: (r) => r.flag('released'),
});

const HOLDS = new LuaScript('holds.lua', {
  keys: ['holds'],
  args: ['after', 'count', 'heads'],
  reply: (r) => ({
    holds: (r.list('holds') as unknown[][]).map(([sid, reason, since]) => ({
      session_id: String(sid),
      reason: String(reason),
      since: String(since),
    })),
    next: r.int('next'),
  }),
});

const CLOSE_IDLE = new LuaScript('close-idle.lua', {
  keys: ['index'],
  args: [
    'heads',
    'cutoff',
    'afterScore',
    'afterMember',
    'limit',
    'nowIso',
    'idleSeconds',
    'maxEvents',
  ],
  reply: (r) => ({ closed: r.int('closed'), next: r.list('next').map(String) }),
});

export interface Hold {
  session_id: string;
  reason: string;
  /** When the hold began, ISO-8601. */
  since: string;
}

/** Sessions each call of close-idle.lua looks at, at most. */
const CLOSE_PAGE = 100;
/** Held sessions one call of holds.lua examines. */
const HOLDS_PAGE = 200;

export class SessionHolds {
  constructor(private readonly store: MemoryStore) {}

  /** Puts a hold on a session; undefined when the session does not exist. */
  async hold(sessionId: string, reason: string): Promise<Hold | undefined> {
    const k = this.store.keys.forSession(sessionId);
    const t = now();
    const reply = await this.store.runner.transact(this.store.slotOf(k), HOLD, {
      keys: k,
      args: { sid: sessionId, reason, nowIso: t.iso, nowScore: t.score },
    });
    if (!reply.exists) return undefined;
    return { session_id: sessionId, reason, since: String(reply.since) };
  }

  /** Lifts a hold; false when the session was not held. Its keys take the TTL again. */
  async release(sessionId: string): Promise<boolean> {
    const k = this.store.keys.forSession(sessionId);
    return this.store.runner.transact(this.store.slotOf(k), RELEASE, {
      keys: k,
      args: { sid: sessionId, ttl: this.store.sessionTtlSeconds },
    });
  }

  /** Every held session, index after index, a page at a time. */
  async *holds(): AsyncGenerator<Hold[]> {
    for (const heads of this.store.keys.indexes) {
      let after = 0;
      while (after >= 0) {
        const page = await this.store.runner.run(HOLDS, {
          keys: heads,
          args: { after, count: HOLDS_PAGE, heads: heads.json },
        });
        if (page.holds.length > 0) yield page.holds;
        after = page.next;
      }
    }
  }

  /**
   * Appends one session_closed event to each session with no write for `idleSeconds`
   * (its id derived from the last update, so replicas of the sidecar close it once).
   * Returns how many were closed.
   */
  async closeIdle(idleSeconds: number): Promise<number> {
    const t = now();
    const cutoff = t.score - idleSeconds;
    let closed = 0;
    for (const heads of this.store.keys.indexes)
      closed += await this.closeIndex(heads, cutoff, idleSeconds);
    return closed;
  }

  private async closeIndex(
    heads: IndexHeads,
    cutoff: number,
    idleSeconds: number,
  ): Promise<number> {
    let closed = 0;
    let after: string[] = ['-inf', ''];
    for (;;) {
      const reply = await this.store.runner.transact(this.store.slotOf(heads), CLOSE_IDLE, {
        keys: heads,
        args: {
          heads: heads.json,
          cutoff,
          afterScore: after[0] ?? '-inf',
          afterMember: after[1] ?? '',
          limit: CLOSE_PAGE,
          nowIso: now().iso,
          idleSeconds,
          maxEvents: this.store.maxSessionEvents,
        },
      });
      closed += reply.closed;
      if (reply.next.length < 2) return closed;
      after = reply.next;
    }
  }
}
