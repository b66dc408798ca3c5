// Automatic folds: when a session's window (from its newest digest) passes
// MEMORY_COMPACTION_TRIGGER_TOKENS, its oldest events are summarised by an
// OpenAI-compatible chat-completions endpoint into a new digest that leaves
// MEMORY_COMPACTION_TARGET_TOKENS. Off the request path: an append only notes the
// session in a bounded set; one worker folds one session at a time, and a model
// that is down, slow or talks nonsense delays folds, never an append. Raw events
// are never deleted; pinned events are never folded.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../lib/logger.js';
import { StoreError } from '../memory/errors.js';
import type { MemoryEvent } from '../memory/events.js';
import type { MemoryStore } from '../memory/store.js';
import type { SummaryConfig } from './config.js';
import { eventTokens, lineOf, WINDOW_TYPES } from './context.js';
import { countTokens } from './tokens.js';
import { isPinned, newestDigest, selectWindow, SUMMARY, TOOL_CALL, TOOL_RESULT } from './window.js';

const SYSTEM_PROMPT =
  'You maintain a concise running summary of a conversation between a user and an AI agent. ' +
  'Fold the prior summary and the older turns given into one updated summary that keeps durable ' +
  'facts, decisions, open tasks, names and numbers. Reply with the summary text only.';

export interface SummarizerOptions {
  /** Sessions waiting for a fold, at most; a session noted past it waits for its next append. */
  queueLimit?: number;
  /** A session is looked at again no sooner than this after its last look. */
  minIntervalMs?: number;
  /** The most tokens one fold sends the model; a longer backlog folds in several steps. */
  maxInputTokens?: number;
  /** The longest summary accepted, in tokens: a longer one is not a summary. */
  maxSummaryTokens?: number;
}

export type FoldOutcome =
  | { kind: 'folded'; version: number; from: string; to: string; events: number }
  | { kind: 'under_trigger'; tokens: number }
  | { kind: 'failed'; reason: string; retryInMs: number }
  | { kind: 'raced' };

const MAX_RETRY_MS = 600_000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class Summarizer {
  /** Called after each look at a session, with what happened (tests wait on it). */
  onOutcome: ((sessionId: string, outcome: FoldOutcome) => void) | undefined;
  private readonly pending = new Set<string>();
  /** When each session may be looked at again (after a look, or a failure). */
  private readonly notBefore = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private closed = false;
  private readonly queueLimit: number;
  private readonly minIntervalMs: number;
  private readonly maxInputTokens: number;
  private readonly maxSummaryTokens: number;

  constructor(
    private readonly store: MemoryStore,
    private readonly config: SummaryConfig,
    private readonly log: Logger,
    options: SummarizerOptions = {},
  ) {
    this.queueLimit = options.queueLimit ?? 1000;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.maxInputTokens = options.maxInputTokens ?? 32_000;
    this.maxSummaryTokens = options.maxSummaryTokens ?? Math.max(1000, config.targetTokens);
  }

  /** An append to `sessionId` was acknowledged. Constant time; never throws. */
  notice(sessionId: string): void {
    if (this.closed || this.pending.has(sessionId)) return;
    if (this.pending.size >= this.queueLimit) return;
    this.pending.add(sessionId);
    this.kick();
  }

  /** Stops: no new folds; a model call in flight is abandoned (its digest is not written). */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    clearTimeout(this.timer);
    await this.running;
  }

  private kick(): void {
    if (this.running || this.closed) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.pending.size > 0 && !this.closed) this.schedule();
    });
  }

  /** Wakes when the earliest waiting session may be looked at. */
  private schedule(): void {
    clearTimeout(this.timer);
    const now = Date.now();
    let wake = Infinity;
    for (const id of this.pending) wake = Math.min(wake, this.notBefore.get(id) ?? now);
    this.timer = setTimeout(() => this.kick(), Math.max(0, wake - now));
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const id = [...this.pending].find((s) => (this.notBefore.get(s) ?? 0) <= now);
      if (id === undefined || this.closed) return;
      this.pending.delete(id);
      const outcome = await this.look(id);
      this.onOutcome?.(id, outcome);
      const wait = outcome.kind === 'failed' ? outcome.retryInMs : this.minIntervalMs;
      this.notBefore.set(id, Date.now() + wait);
      // Past a fold the window may still be over the trigger (a long backlog): look again.
      if (outcome.kind === 'folded') this.pending.add(id);
      this.forgetOld();
    }
  }

  /** The maps stay as small as the queue: entries whose time has passed go. */
  private forgetOld(): void {
    if (this.notBefore.size <= this.queueLimit) return;
    const now = Date.now();
    for (const [id, at] of this.notBefore) {
      if (at <= now && !this.pending.has(id)) {
        this.notBefore.delete(id);
        this.failures.delete(id);
      }
    }
  }

  private async look(sessionId: string): Promise<FoldOutcome> {
    try {
      const outcome = await this.fold(sessionId);
      this.failures.delete(sessionId);
      if (outcome.kind === 'folded') {
        this.log.info(
          { session: sessionId, version: outcome.version, events: outcome.events },
          'session folded into a digest',
        );
      }
      return outcome;
    } catch (err) {
      const count = (this.failures.get(sessionId) ?? 0) + 1;
      this.failures.set(sessionId, count);
      const retryInMs = Math.min(this.config.retryMs * 2 ** (count - 1), MAX_RETRY_MS);
      const reason = err instanceof Error ? err.message : String(err);
      if (!this.closed) {
        this.log.warn({ session: sessionId, reason, retryInMs }, 'fold failed; appends go on');
      }
      return { kind: 'failed', reason, retryInMs };
    }
  }

  /** One look: reads the session, folds its oldest events when the window is past the trigger. */
  private async fold(sessionId: string): Promise<FoldOutcome> {
    // The digest version first: a fold written after this read makes the append refuse.
    const tagged = await this.store.getSessionTagged(sessionId);
    if (!tagged) return { kind: 'under_trigger', tokens: 0 };
    const { events } = await this.store.readEvents(sessionId, {});
    const digest = newestDigest(events);
    const cost = (e: MemoryEvent) => eventTokens(e, 'text');
    const shows = (e: MemoryEvent) => WINDOW_TYPES.has(e.event_type);
    const all = selectWindow({ events, digest, maxTokens: Infinity, cost, shows });
    if (all.tokens <= this.config.triggerTokens) {
      return { kind: 'under_trigger', tokens: all.tokens };
    }
    const kept = selectWindow({
      events,
      digest,
      maxTokens: this.config.targetTokens,
      cost,
      shows,
    });
    const keptIds = new Set(kept.events.map((e) => e.event_id));
    const allIds = new Set(all.events.map((e) => e.event_id));
    // What leaves the window: shown, not pinned, newer than the digest's range.
    const leaving = events.filter(
      (e) => allIds.has(e.event_id) && !keptIds.has(e.event_id) && !isPinned(e),
    );
    const folded = cut(
      leaving.filter((e) => e.event_type !== SUMMARY),
      this.maxInputTokens,
      cost,
    );
    const first = folded[0];
    const last = folded.at(-1);
    if (!first || !last) return { kind: 'under_trigger', tokens: all.tokens };

    const prior = digest ? text(digest.content) : '';
    const summary = await this.complete(prior, folded);
    // Written only if no other digest was meanwhile (another sidecar's fold, an agent's
    // own), whatever else was appended: the script checks the version and the range.
    let result;
    try {
      result = await this.store.appendDigest(
        sessionId,
        {
          summary,
          fromEventId: first.event_id,
          toEventId: last.event_id,
          metadata: { source: 'sidecar', model: this.config.model },
        },
        { expectVersion: tagged.digestVersion },
      );
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'precondition') return { kind: 'raced' };
      throw err;
    }
    // The range is gone (trimmed, or the session deleted and created again): look again later.
    if (!result.stored) return { kind: 'raced' };
    return {
      kind: 'folded',
      version: result.version,
      from: first.event_id,
      to: last.event_id,
      events: folded.length,
    };
  }

  /** The model's summary of `prior` and `turns`; throws saying what was wrong. */
  private async complete(prior: string, turns: MemoryEvent[]): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const key = await this.apiKey();
    if (key) headers.authorization = `Bearer ${key}`;
    const body = JSON.stringify({
      model: this.config.model,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        {
          role: 'user',
          content: `Prior summary:\n${prior || '(none)'}\n\nOlder turns to fold in:\n${turns.map(lineOf).join('\n')}`,
        },
      ],
    });
    // A timer of our own, not AbortSignal.timeout: node 20 may collect a timeout signal
    // that only AbortSignal.any refers to, and the call then never times out.
    const call = new AbortController();
    const timer = setTimeout(() => call.abort(), this.config.timeoutMs);
    const stop = () => call.abort();
    this.abort.signal.addEventListener('abort', stop);
    let raw: string;
    let res: Response;
    try {
      try {
        res = await fetch(`${this.config.url}/chat/completions`, {
          method: 'POST',
          headers,
          body,
          signal: call.signal,
        });
      } catch (err) {
        const why = call.signal.aborted ? 'timed out' : 'unreachable';
        throw new Error(`the summary model is ${why}`, { cause: err });
      }
      raw = await readCapped(res, MAX_RESPONSE_BYTES, call.signal);
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', stop);
    }
    if (!res.ok) throw new Error(`the summary model answered ${res.status}`);
    let summary: unknown;
    try {
      summary = (JSON.parse(raw) as { choices?: { message?: { content?: unknown } }[] })
        .choices?.[0]?.message?.content;
    } catch {
      throw new Error('the summary model answered something that is not JSON');
    }
    if (typeof summary !== 'string' || summary.trim() === '') {
      throw new Error('the summary model answered no choices[0].message.content');
    }
    if (countTokens(summary) > this.maxSummaryTokens) {
      throw new Error(`the summary model answered more than ${this.maxSummaryTokens} tokens`);
    }
    return summary.trim();
  }

  /** Read at each call: a mounted Secret changes in place. */
  private async apiKey(): Promise<string | undefined> {
    if (!this.config.apiKeyFile) return undefined;
    try {
      return (await readFile(this.config.apiKeyFile, 'utf8')).trim() || undefined;
    } catch {
      throw new Error('MEMORY_SUMMARY_API_KEY_FILE cannot be read');
    }
  }
}

function text(content: unknown): string {
  return typeof content === 'string' ? content : JSON.stringify(content);
}

/**
 * The oldest events within `max` tokens (at least one), cut where no tool call is
 * parted from its result: before an event that is not a tool result, after one that
 * is not a tool call.
 */
function cut(events: MemoryEvent[], max: number, cost: (e: MemoryEvent) => number): MemoryEvent[] {
  let tokens = 0;
  let end = 0;
  let safe = 0;
  for (; end < events.length; end++) {
    tokens += cost(events[end] as MemoryEvent);
    if (tokens > max && safe > 0) return events.slice(0, safe);
    const next = events[end + 1];
    if (events[end]?.event_type !== TOOL_CALL && next?.event_type !== TOOL_RESULT) safe = end + 1;
  }
  return events;
}

async function readCapped(res: Response, max: number, signal: AbortSignal): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > max) throw new Error(`the summary model answered more than ${max} bytes`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (signal.aborted) throw new Error('the summary model timed out', { cause: err });
    throw err;
  }
  return Buffer.concat(chunks).toString('utf8');
}
