// The pair-safe window: which events of a session go into a prompt of N tokens.
// `/context?max_tokens` and memory v2's short-term window both choose with it.
// Rules: start from the newest digest (the events it summarises are left out);
// always keep pinned events (`metadata.pinned: true`); then the newest events that
// fit, newest first, stopping at the first that does not; never split a tool call
// from its result (matched by `metadata.tool_call_id`, else by adjacency), and
// leave out a call without a result or a result without a call, which model
// providers refuse.

/**
 * How many bytes of a session a window's next read takes. The first: 12 per token asked
 * for (a stored event is ~150 bytes of JSON around its text, ~4 bytes a token), at least
 * 8 KiB: a second read costs more than decoding a few events too many. After that, the tokens
 * still missing at the rate the reads so far held them, a quarter more; four times the
 * bytes so far while none are shown. Most windows take one read, some two.
 */
export function windowReadBytes(
  maxTokens: number,
  soFar: { bytes: number; tokens: number } = { bytes: 0, tokens: 0 },
): number {
  const MIN = 8 * 1024;
  if (soFar.bytes === 0) return Math.max(MIN, maxTokens * 12);
  if (soFar.tokens === 0) return Math.max(MIN, soFar.bytes * 4);
  const missing = Math.max(0, maxTokens - soFar.tokens);
  return Math.max(MIN, Math.ceil(((missing * soFar.bytes) / soFar.tokens) * 1.25));
}

/** What the window reads of an event: the stored event shape, or anything with these fields. */
export interface WindowEvent {
  event_id: string;
  event_type: string;
  metadata?: Record<string, unknown> | undefined;
}

export const TOOL_CALL = 'tool_call';
export const TOOL_RESULT = 'tool_result';
export const SUMMARY = 'summary';

export interface WindowInput<E extends WindowEvent> {
  /** The session's most recent events, oldest first (pinned events and digests among them). */
  events: readonly E[];
  /** Pinned events kept apart from the list; those no longer in `events` come before them. */
  pinned?: readonly E[] | undefined;
  /** The newest digest: an event of type `summary` with `metadata.to_event_id`. */
  digest?: E | undefined;
  maxTokens: number;
  /** Events the window holds at most, besides the digest. */
  maxEvents?: number | undefined;
  /** The tokens of one event as the caller renders it. */
  cost(event: E): number;
  /** The event types the view shows; pinned events are shown whatever their type. Default: all. */
  shows?: ((event: E) => boolean) | undefined;
}

export interface Window<E extends WindowEvent> {
  /** What goes into the prompt, in order: the digest, then the rest oldest first. */
  events: E[];
  /** Tokens of `events` by `cost`. */
  tokens: number;
  /** The digest the window starts from, or undefined (none, or it did not fit beside the pinned events). */
  digest: E | undefined;
  /** Pinned events kept. */
  pinned: number;
  /** Events left out, by why. */
  dropped: {
    /** Older events past the budget or the event cap (whole tool groups among them). */
    budget: number;
    /** Of those, tool groups (a call with its results) dropped whole. */
    toolGroups: number;
    /** Tool calls without a result and results without a call. */
    unpaired: number;
    /** Events the digest summarises, and older digests. */
    summarised: number;
    /** True when a digest was given but did not fit beside the pinned events. */
    digest: boolean;
  };
  /** The pinned events alone (with no digest) exceed maxTokens; they are kept all the same. */
  overBudget: boolean;
  /**
   * True when older events could not change the window: the budget or the cap was
   * reached, or the digest's range begins within `events`. Otherwise read further back.
   */
  complete: boolean;
}

/** One or more events kept or dropped together. */
interface Unit<E> {
  events: E[];
  /** Positions in the sequence, ascending. */
  at: number[];
  pinned: boolean;
  calls: number;
  results: number;
  /** Every event lies within the digest's range. */
  summarised: boolean;
}

/** The newest event of type `summary` that names the end of its range. */
export function newestDigest<E extends WindowEvent>(events: readonly E[]): E | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as E;
    if (e.event_type === SUMMARY && typeof e.metadata?.to_event_id === 'string') return e;
  }
  return undefined;
}

export function isPinned(event: WindowEvent): boolean {
  return event.metadata?.pinned === true;
}

function toolCallId(event: WindowEvent): string | undefined {
  const id = event.metadata?.tool_call_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export function selectWindow<E extends WindowEvent>(input: WindowInput<E>): Window<E> {
  const { sequence, boundary, found } = arrange(input);
  const units = groupTools(sequence, boundary, input.shows);
  const dropped = { budget: 0, toolGroups: 0, unpaired: 0, summarised: 0, digest: false };
  // Older digests in the list: the newest stands for them (it is placed first, not here).
  for (const e of sequence) {
    if (e.event_type === SUMMARY && e.event_id !== input.digest?.event_id && !isPinned(e)) {
      dropped.summarised++;
    }
  }
  const state = keepPinned(units, (e) => input.cost(e));
  const overBudget = state.tokens > input.maxTokens;
  let digest = input.digest;
  if (digest) {
    const cost = input.cost(digest);
    if (state.tokens + cost <= input.maxTokens) state.tokens += cost;
    else {
      digest = undefined;
      dropped.digest = true;
    }
  }
  const full = fillNewestFirst(units, input, state, dropped, overBudget);
  const events: E[] = digest ? [digest] : [];
  [...state.keep].sort((a, b) => a - b).forEach((at) => events.push(sequence[at] as E));
  return {
    events,
    tokens: state.tokens,
    digest,
    pinned: state.pinned,
    dropped,
    overBudget,
    complete: full || found,
  };
}

/** What the window holds so far: positions kept, their tokens, and how many are pinned. */
interface Kept {
  keep: Set<number>;
  tokens: number;
  pinned: number;
  count: number;
}

function keepPinned<E extends WindowEvent>(units: Unit<E>[], cost: (e: E) => number): Kept {
  const state: Kept = { keep: new Set(), tokens: 0, pinned: 0, count: 0 };
  for (const unit of units) {
    if (!unit.pinned) continue;
    unit.events.forEach((e, j) => {
      state.keep.add(unit.at[j] as number);
      state.tokens += cost(e);
    });
    state.pinned += unit.events.length;
  }
  state.count = state.pinned;
  return state;
}

/**
 * Adds units newest first while they fit, stopping at the first that does not;
 * resolves whether the budget or the cap was reached.
 */
function fillNewestFirst<E extends WindowEvent>(
  units: Unit<E>[],
  input: WindowInput<E>,
  state: Kept,
  dropped: Window<E>['dropped'],
  overBudget: boolean,
): boolean {
  const maxEvents = input.maxEvents ?? Infinity;
  let full = overBudget || state.count >= maxEvents;
  for (let u = units.length - 1; u >= 0; u--) {
    const unit = units[u] as Unit<E>;
    if (unit.pinned) continue;
    if (unit.summarised) {
      dropped.summarised += unit.events.length;
      continue;
    }
    if (unit.calls + unit.results > 0 && (unit.calls === 0 || unit.results === 0)) {
      dropped.unpaired += unit.events.length;
      continue;
    }
    if (!full) {
      const cost = unit.events.reduce((sum, e) => sum + input.cost(e), 0);
      if (state.tokens + cost <= input.maxTokens && state.count + unit.events.length <= maxEvents) {
        state.tokens += cost;
        state.count += unit.events.length;
        for (const at of unit.at) state.keep.add(at);
        continue;
      }
      full = true;
    }
    dropped.budget += unit.events.length;
    if (unit.calls > 0) dropped.toolGroups++;
  }
  return full;
}

function shown<E extends WindowEvent>(event: E, shows: WindowInput<E>['shows']): boolean {
  return isPinned(event) || !shows || shows(event);
}

/**
 * One chronological sequence: pinned copies no longer in the list first, then the
 * list, each event once. `boundary` is the position of the digest's last event (-1
 * when the list does not hold it: then nothing read is summarised).
 */
function arrange<E extends WindowEvent>(
  input: WindowInput<E>,
): { sequence: E[]; boundary: number; found: boolean } {
  const inList = new Set(input.events.map((e) => e.event_id));
  const sequence: E[] = [];
  const seen = new Set<string>();
  for (const e of input.pinned ?? []) {
    if (!inList.has(e.event_id) && !seen.has(e.event_id)) {
      seen.add(e.event_id);
      sequence.push(e);
    }
  }
  const olderPinned = sequence.length;
  for (const e of input.events) {
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    sequence.push(e);
  }
  const to = input.digest?.metadata?.to_event_id;
  let boundary = -1;
  if (typeof to === 'string') {
    for (let i = sequence.length - 1; i >= olderPinned; i--) {
      if (sequence[i]?.event_id === to) {
        boundary = i;
        break;
      }
    }
  }
  // A digest whose range ends before the list means every event read is newer than it.
  return { sequence, boundary, found: boundary >= 0 };
}

/**
 * The units of the sequence: each shown event alone, except tool events, which join
 * the call they answer (same `metadata.tool_call_id`) or, without a matching id, the
 * run of tool events just before them (parallel calls answered in order).
 */
function groupTools<E extends WindowEvent>(
  sequence: readonly E[],
  boundary: number,
  shows: WindowInput<E>['shows'],
): Unit<E>[] {
  const parent = sequence.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i] as number] as number;
    return i;
  };
  const join = (a: number, b: number) => {
    parent[root(a)] = root(b);
  };
  const callById = new Map<string, number>();
  let run = -1; // the first position of the current run of tool events
  let previous = -1;
  const members: number[] = [];
  for (let i = 0; i < sequence.length; i++) {
    const e = sequence[i] as E;
    if (e.event_type === SUMMARY || !shown(e, shows)) continue;
    members.push(i);
    const tool = e.event_type === TOOL_CALL || e.event_type === TOOL_RESULT;
    if (!tool) {
      run = -1;
      previous = i;
      continue;
    }
    const id = toolCallId(e);
    if (e.event_type === TOOL_CALL) {
      if (id !== undefined && !callById.has(id)) callById.set(id, i);
      if (run < 0) run = i;
    } else {
      const call = id === undefined ? undefined : callById.get(id);
      if (call !== undefined) join(i, call);
      else if (run >= 0) for (let j = run; j <= previous; j++) join(i, j);
      if (run < 0) run = i;
    }
    previous = i;
  }
  const list = collect(sequence, members, root, boundary);
  // Units listed by their newest event, so the newest-first walk meets them in order.
  list.sort((a, b) => (a.at.at(-1) as number) - (b.at.at(-1) as number));
  return list;
}

/** The members' units, from the roots the grouping left. */
function collect<E extends WindowEvent>(
  sequence: readonly E[],
  members: readonly number[],
  root: (i: number) => number,
  boundary: number,
): Unit<E>[] {
  const byRoot = new Map<number, Unit<E>>();
  const list: Unit<E>[] = [];
  for (const i of members) {
    const e = sequence[i] as E;
    const r = root(i);
    let unit = byRoot.get(r);
    if (!unit) {
      unit = { events: [], at: [], pinned: false, calls: 0, results: 0, summarised: true };
      byRoot.set(r, unit);
      list.push(unit);
    }
    unit.events.push(e);
    unit.at.push(i);
    unit.pinned ||= isPinned(e);
    if (e.event_type === TOOL_CALL) unit.calls++;
    if (e.event_type === TOOL_RESULT) unit.results++;
    unit.summarised &&= i <= boundary;
  }
  return list;
}
