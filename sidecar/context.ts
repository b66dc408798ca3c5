// The conversation views of a session: the User:/Assistant: lines KAOS builds for
// a prompt (max_events), and the window of N tokens (max_tokens) that starts from
// the newest digest, keeps pinned events and never splits a tool call from its result.
import type { MemoryEvent } from '../memory/events.js';
import { pyStr } from '../memory/pyjson.js';
import type { EventCursor, MemoryStore, SessionCopies } from '../memory/store.js';
import { countTokens, TOKEN_COUNTER } from './tokens.js';
import {
  newestDigest,
  selectWindow,
  TOOL_CALL,
  TOOL_RESULT,
  windowReadBytes,
  type Window,
} from './window.js';

export const CONVERSATION_TYPES = ['user_message', 'agent_response'] as const;
/** What the token window shows besides digests and pinned events (which it shows whatever their type). */
export const WINDOW_TYPES: ReadonlySet<string> = new Set([
  ...CONVERSATION_TYPES,
  TOOL_CALL,
  TOOL_RESULT,
]);

function asText(content: unknown): string {
  return pyStr(content);
}

/** `User: …` / `Assistant: …` lines, as KAOS's build_conversation_context joins them. */
export function contextText(events: readonly MemoryEvent[]): string {
  return events
    .map((e) =>
      e.event_type === 'user_message'
        ? `User: ${asText(e.content)}`
        : `Assistant: ${asText(e.content)}`,
    )
    .join('\n');
}

export function contextMessages(
  events: readonly MemoryEvent[],
): { role: string; content: string }[] {
  return events.map((e) => ({
    role: e.event_type === 'user_message' ? 'user' : 'assistant',
    content: asText(e.content),
  }));
}

// --- the token window ------------------------------------------------------

export type Role = 'user' | 'assistant' | 'system' | 'tool';

export interface Message {
  role: Role;
  content: string;
  /** On tool calls and results that name one. */
  tool_call_id?: string;
}

/** A message's role and framing in a chat prompt (OpenAI's format spends 3 to 4 tokens). */
export const MESSAGE_FRAMING_TOKENS = 4;
/** A line's line break. */
const LINE_BREAK_TOKENS = 1;

const ROLES: Record<string, Role> = {
  user_message: 'user',
  agent_response: 'assistant',
  tool_call: 'assistant',
  tool_result: 'tool',
};
const LABELS: Record<string, string> = {
  user_message: 'User',
  agent_response: 'Assistant',
  tool_call: 'Tool call',
  tool_result: 'Tool result',
  summary: 'Summary',
};

/** A digest, or a pinned event of a type with no role of its own (a standing instruction), is a system message. */
export function messageOf(e: MemoryEvent): Message {
  const message: Message = { role: ROLES[e.event_type] ?? 'system', content: asText(e.content) };
  const id = e.metadata.tool_call_id;
  if ((e.event_type === TOOL_CALL || e.event_type === TOOL_RESULT) && typeof id === 'string') {
    message.tool_call_id = id;
  }
  return message;
}

export function lineOf(e: MemoryEvent): string {
  return `${LABELS[e.event_type] ?? 'System'}: ${asText(e.content)}`;
}

export type ContextFormat = 'text' | 'messages';

/** What an event costs in a view: its line and line break, or its content and a message's framing. */
export function eventTokens(
  e: MemoryEvent,
  format: ContextFormat,
  count: (text: string) => number = countTokens,
): number {
  return format === 'text'
    ? count(lineOf(e)) + LINE_BREAK_TOKENS
    : count(messageOf(e).content) + MESSAGE_FRAMING_TOKENS;
}

/** What the answer says about the window. */
export interface WindowReport {
  counter: string;
  max_tokens: number;
  tokens: number;
  events: number;
  pinned: number;
  digest_event_id: string | null;
  /** Stored events read to choose (the newest first, as far back as needed). */
  events_read: number;
  dropped: {
    budget: number;
    tool_groups: number;
    unpaired: number;
    summarised: number;
    digest: boolean;
  };
}

export interface ContextWindow {
  window: Window<MemoryEvent>;
  report: WindowReport;
  /** The session's tag as the first (newest) page saw it; undefined when it does not exist. */
  etag: string | undefined;
}

/**
 * Reads a session from its newest event back, a page at a time, growing, until the
 * window is decided (`window.complete`), or the session or the read budget (the
 * store's bytes per response) ends. Pinned events and the newest digest come from the
 * store's copies, read with the first page; where the copies may not be all of them
 * (written by another writer, more than are kept), reading goes on to the oldest event
 * the budget allows, since any may be pinned.
 */
export async function readWindow(
  store: MemoryStore,
  sessionId: string,
  opts: {
    maxTokens: number;
    maxEvents?: number | undefined;
    format: ContextFormat;
    /** The token counter (the sidecar's keeps the counts of texts it counted lately). */
    count?: (text: string) => number;
  },
): Promise<ContextWindow> {
  let events: MemoryEvent[] = [];
  let before: EventCursor | undefined;
  let remaining = store.maxReadBytes;
  let etag: string | undefined;
  let copies: SessionCopies | undefined;
  const costs = new Map<MemoryEvent, number>();
  const cost = (e: MemoryEvent) => {
    let c = costs.get(e);
    if (c === undefined) costs.set(e, (c = eventTokens(e, opts.format, opts.count)));
    return c;
  };
  let soFar = { bytes: 0, tokens: 0 };
  let chosen = false;
  for (;;) {
    const first = before === undefined;
    const page = await store.readEvents(sessionId, {
      before,
      maxBytes: chosen ? remaining : Math.min(windowReadBytes(opts.maxTokens, soFar), remaining),
      copies: first,
    });
    if (first) ({ etag, copies } = page);
    events = page.events.concat(events);
    remaining -= page.bytes;
    const window = selectWindow({
      events,
      pinned: copies?.pinned,
      digest: newestDigest(events) ?? copies?.digest,
      maxTokens: opts.maxTokens,
      maxEvents: opts.maxEvents,
      cost,
      shows: (e) => WINDOW_TYPES.has(e.event_type),
    });
    const decided = window.complete && copies?.complete === true;
    if (decided || !page.next || remaining <= 0) {
      return { window, report: report(window, opts.maxTokens, events.length), etag };
    }
    soFar = { bytes: store.maxReadBytes - remaining, tokens: window.tokens };
    // The window is chosen, but the copies may lack a pinned event or a digest further
    // back: the rest is read for those alone, in one page (as far as the budget goes)
    // rather than in the window's small steps, each choosing the window again.
    chosen = window.complete;
    before = page.next;
  }
}

function report(w: Window<MemoryEvent>, maxTokens: number, read: number): WindowReport {
  return {
    counter: TOKEN_COUNTER,
    max_tokens: maxTokens,
    tokens: w.tokens,
    events: w.events.length,
    pinned: w.pinned,
    digest_event_id: w.digest?.event_id ?? null,
    events_read: read,
    dropped: {
      budget: w.dropped.budget,
      tool_groups: w.dropped.toolGroups,
      unpaired: w.dropped.unpaired,
      summarised: w.dropped.summarised,
      digest: w.dropped.digest,
    },
  };
}
