// The short-term window of a v2 recall, chosen by the sidecar's one window
// (sidecar/window.ts): the newest run of a session's turns whose contents fit the
// budget, counted as upstream counts them (content only), within a cap on turns,
// oldest first; pinned events kept; a tool call never parted from its answers.
// Upstream's runtime writes a tool call as an assistant text turn followed by
// `tool` turns, so such an assistant turn is the call its answers pair with.
import type { MemoryEvent } from '../../memory/events.js';
import { pyDumps } from '../../memory/pyjson.js';
import { isPinned, selectWindow, TOOL_CALL, TOOL_RESULT } from '../window.js';
import { eventTurn, type RecentTurn } from './turns.js';

export interface WindowLimits {
  /** Tokens the turns' contents add up to at most (pinned turns are kept even past it). */
  budget: number;
  /** Turns the window holds at most. */
  maxTurns: number;
}

export interface RecentWindow {
  /** Oldest first. */
  recent: RecentTurn[];
  tokens: number;
  /** Older events could not change it: the budget or the cap was reached. */
  complete: boolean;
}

/** A turn as the window sees it: its pairing role in `event_type`. */
interface TurnItem {
  event_id: string;
  event_type: string;
  metadata: Record<string, unknown>;
  turn: RecentTurn;
}

/** The turn of an event; a pinned event of no role of its own is a standing (system) instruction. */
function turnOf(e: MemoryEvent): RecentTurn | undefined {
  const turn = eventTurn(e);
  if (turn || !isPinned(e)) return turn;
  return ['system', typeof e.content === 'string' ? e.content : pyDumps(e.content)];
}

/** The window over `events` (a session's newest, oldest first, none older than its digest covers). */
export function recentWindow(
  events: readonly MemoryEvent[],
  limits: WindowLimits,
  count: (text: string) => number,
): RecentWindow {
  const items: TurnItem[] = [];
  for (const e of events) {
    const turn = turnOf(e);
    if (turn)
      items.push({ event_id: e.event_id, event_type: e.event_type, metadata: e.metadata, turn });
  }
  items.forEach((item, i) => {
    const answered = items[i + 1]?.turn[0] === 'tool';
    if (item.turn[0] === 'tool') item.event_type = TOOL_RESULT;
    else if (item.event_type === TOOL_CALL || (item.turn[0] === 'assistant' && answered)) {
      item.event_type = TOOL_CALL;
    } else item.event_type = 'turn';
  });
  // Counted when the window asks: it walks newest first and stops once full.
  const costs = new Map<TurnItem, number>();
  const cost = (item: TurnItem) => {
    let c = costs.get(item);
    if (c === undefined) costs.set(item, (c = count(item.turn[1])));
    return c;
  };
  const w = selectWindow({
    events: items,
    maxTokens: limits.budget,
    maxEvents: limits.maxTurns,
    cost,
  });
  return { recent: w.events.map((item) => item.turn), tokens: w.tokens, complete: w.complete };
}
