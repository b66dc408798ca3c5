// Memory v2's four operations over the session store and the fact store, as
// upstream KAOS's memory service answers them (kaos_memory/app.py), with the
// differences docs/decisions.md lists: no extraction model (facts are the text
// of `infer: false` turns), lexical ranking, and a 2xx only once Redis holds a
// write. Every scope is checked against the pod's identity first (scope.ts).
import { MemoryAdmin } from '../../memory/admin.js';
import { StoreError } from '../../memory/errors.js';
import type { MemoryEvent } from '../../memory/events.js';
import type { Fact, FactScope, FactStore } from '../../memory/facts.js';
import type { EventCursor, MemoryStore, SessionCopies } from '../../memory/store.js';
import type { MemoryV2Config } from '../config.js';
import { BadRequestError } from '../errors.js';
import { assembleBlock } from './block.js';
import { rankBm25, words } from './bm25.js';
import { SUMMARY, windowReadBytes } from '../window.js';
import { recentWindow } from './recent.js';
import type { ForgetRequest, ListRequest, RecallRequest, Scope, WriteRequest } from './schemas.js';
import { checkScope, writeOwners } from './scope.js';
import { turnEvent, type RecentTurn } from './turns.js';

export interface MemoryV2Deps {
  store: MemoryStore;
  facts: FactStore;
  settings: MemoryV2Config;
  countTokens: (text: string) => number;
}

/** Owner of a session a write creates when the attribution names no principal (KAOS's default). */
const DEFAULT_USER = 'user';
const DEFAULT_APP = 'agent';

export type RecalledFact = Fact & { score?: number };

export interface RecallAnswer {
  facts: RecalledFact[];
  short_term: { recent: RecentTurn[] };
  medium_term: { summary: string };
  block: string;
  degraded: boolean;
}

interface ShortTerm {
  recent: RecentTurn[];
  summary: string;
}

const NO_SHORT_TERM: ShortTerm = { recent: [], summary: '' };

export class MemoryV2 {
  constructor(private readonly deps: MemoryV2Deps) {}

  private get identity(): string | undefined {
    return this.deps.settings.agentIdentity;
  }

  async recall(req: RecallRequest): Promise<RecallAnswer> {
    const scope = checkScope(req.scope, this.identity, 'read');
    const topK = req.top_k ?? this.deps.settings.defaultTopK;
    // A query with no word that counts, or top_k 0, ranks nothing: the facts are not read.
    const ranks = topK > 0 && words(req.query).length > 0;
    const [short, candidates] = await Promise.all([
      this.shortTerm(scope, req.include_short_term, req.short_term_token_budget),
      ranks ? this.candidates(scope) : { facts: [], degraded: false },
    ]);
    // A fact that is still a turn of the window is left out, as upstream never has
    // both: there a turn becomes a fact only once it has left the window.
    const inWindow = new Set(short.recent.map(([, content]) => content));
    const fresh = candidates.facts.filter(
      (f) => !(f.metadata.kaos_run === scope.session_id && inWindow.has(f.memory)),
    );
    const facts = rankBm25(req.query, fresh, (f) => f.memory, topK).map(({ item, score }) =>
      withScore(item, score),
    );
    return answer(facts, short, candidates.degraded);
  }

  async list(req: ListRequest): Promise<RecallAnswer> {
    const scope = checkScope(req.scope, this.identity, 'read');
    const [short, candidates] = await Promise.all([
      this.shortTerm(scope, req.include_short_term, req.short_term_token_budget),
      this.candidates(scope),
    ]);
    return answer(candidates.facts, short, candidates.degraded);
  }

  async write(req: WriteRequest): Promise<{ accepted: true; scheduled: false; degraded: boolean }> {
    const owners = writeOwners(req.attribution, this.identity);
    const { store } = this.deps;
    if (owners.session === undefined) {
      throw new BadRequestError(
        'body.attribution.session_id: turns are kept in a session; name the conversation',
      );
    }
    if (req.turns.length > store.maxSessionEvents) {
      throw new BadRequestError(
        `body.turns: holds ${req.turns.length} turns, more than the ${store.maxSessionEvents} a session keeps (MEMORY_MAX_SESSION_EVENTS); send fewer at a time`,
      );
    }
    await store.appendEvents(
      owners.session,
      req.turns.map((t) => turnEvent(t.role, t.content)),
      { userId: owners.principal ?? DEFAULT_USER, appName: DEFAULT_APP },
    );
    let degraded = false;
    if (!req.infer) {
      // Upstream's Mem0 keeps every turn but the system's as a fact when it does not infer.
      const facts = req.turns
        .filter((t) => t.role !== 'system')
        .map((t) => ({ text: t.content, role: t.role }));
      if (owners.principal === undefined && owners.agent === undefined) {
        degraded = true; // upstream refuses a long-term write with neither owner
      } else if (facts.length > 0) {
        degraded = await this.softly(req.failure_mode, () => this.deps.facts.write(owners, facts));
      }
    }
    // No extraction is ever scheduled: the sidecar has no model (infer: true keeps the turns only).
    return { accepted: true, scheduled: false, degraded };
  }

  async forget(req: ForgetRequest): Promise<{ forgotten: true; degraded: boolean }> {
    const scope = checkScope(req.scope, this.identity, 'forget');
    const { store, facts } = this.deps;
    // The conversations first, and never softly: a 2xx means they are gone.
    if (scope.level === 'session' && scope.session_id !== undefined) {
      await store.deleteSession(scope.session_id);
    } else if (scope.level === 'user' && scope.principal !== undefined) {
      await new MemoryAdmin(store).deleteUserSessions(scope.principal);
    }
    const degraded = await this.softly(req.failure_mode, () => facts.erase(factScope(scope)));
    return { forgotten: true, degraded };
  }

  /**
   * Runs a long-term step: under `strict` its Redis failure fails the request;
   * otherwise (upstream's default, `soft`) it only marks the answer degraded.
   */
  private async softly(mode: string | undefined, step: () => Promise<unknown>): Promise<boolean> {
    try {
      await step();
      return false;
    } catch (err) {
      if (mode === 'strict' || !(err instanceof StoreError)) throw err;
      return true;
    }
  }

  /** The scope's facts, newest first; a Redis failure degrades the answer instead of failing it. */
  private async candidates(scope: Scope): Promise<{ facts: Fact[]; degraded: boolean }> {
    try {
      const facts = await this.deps.facts.read(
        factScope(scope),
        this.deps.settings.maxFactsPerScope,
      );
      return { facts, degraded: false };
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      return { facts: [], degraded: true };
    }
  }

  /**
   * The newest digest and the window of turns after it, when the scope names a
   * session. Read from the newest event back, a page at a time, until the window is
   * decided, the digest's range is met, or the session or the read budget ends.
   */
  private async shortTerm(
    scope: Scope,
    include: boolean,
    budget: number | undefined,
  ): Promise<ShortTerm> {
    if (!include || scope.session_id === undefined) return NO_SHORT_TERM;
    const id = scope.session_id;
    const { store, settings, countTokens } = this.deps;
    const limits = {
      budget: budget ?? settings.shortTermTokenBudget,
      maxTurns: settings.shortTermEventCap,
    };
    let events: MemoryEvent[] = [];
    let digest: MemoryEvent | undefined;
    let copies: SessionCopies | undefined;
    let before: EventCursor | undefined;
    let remaining = store.maxReadBytes;
    let soFar = { bytes: 0, tokens: 0 };
    for (;;) {
      const maxBytes = Math.min(windowReadBytes(limits.budget, soFar), remaining);
      const first = before === undefined;
      const page = await store.readEvents(id, { before, maxBytes, copies: first });
      if (first) copies = page.copies;
      remaining -= page.bytes;
      digest ??= newestDigest(page.events);
      events = page.events.concat(events);
      // Turns up to the digest's last are folded into it: the window starts after them.
      const through = digest?.metadata.to_event_id;
      const cut = events.findIndex((e) => e.event_id === through);
      const window = recentWindow(cut >= 0 ? events.slice(cut + 1) : events, limits, countTokens);
      if (window.complete || cut >= 0 || !page.next || remaining <= 0) {
        const summary = digest ?? (await this.olderDigest(id, page.next, copies));
        return { recent: window.recent, summary: digestText(summary) };
      }
      soFar = { bytes: store.maxReadBytes - remaining, tokens: window.tokens };
      before = page.next;
    }
  }

  /**
   * The newest digest older than the events read (`before` them, or none when the list
   * was read to its oldest), for a window that met none: the store's copy when its copies
   * are all the session's summaries (as /context takes it, kept when the list is trimmed
   * past it), else the newest summary event read back.
   */
  private async olderDigest(
    id: string,
    before: EventCursor | undefined,
    copies: SessionCopies | undefined,
  ): Promise<MemoryEvent | undefined> {
    if (copies?.complete) return copies.digest;
    if (before === undefined) return undefined;
    const { events } = await this.deps.store.readEvents(id, {
      before,
      limit: 1,
      types: [SUMMARY],
    });
    return events[0];
  }
}

function newestDigest(events: readonly MemoryEvent[]): MemoryEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i]?.event_type === SUMMARY) return events[i];
  }
  return undefined;
}

function digestText(digest: MemoryEvent | undefined): string {
  return typeof digest?.content === 'string' ? digest.content : '';
}

function answer(facts: RecalledFact[], short: ShortTerm, degraded: boolean): RecallAnswer {
  return {
    facts,
    short_term: { recent: short.recent },
    medium_term: { summary: short.summary },
    block: assembleBlock(facts),
    degraded,
  };
}

/** Mem0's key order, with the score where a search puts it. */
function withScore(f: Fact, score: number): RecalledFact {
  const { id, memory, hash, created_at, updated_at, ...rest } = f;
  return { id, memory, hash, created_at, updated_at, score, ...rest };
}

function factScope(scope: Scope): FactScope {
  switch (scope.level) {
    case 'session':
      return { kind: 'session', session: scope.session_id ?? '' };
    case 'agent':
      return {
        kind: 'agent',
        agent: scope.agent_client_id ?? '',
        principal: scope.user_scoping_required ? scope.principal : undefined,
      };
    case 'user':
      return { kind: 'user', principal: scope.principal ?? '' };
    case 'group':
      return { kind: 'group' };
  }
}
