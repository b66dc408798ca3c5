// Events in KAOS's stored form, and the reader rules KAOS applies to them.
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { JsonNumber, JsonText, parsePythonJson } from './json.js';
import { pyDumps } from './pyjson.js';

/** An event as stored and returned; key order is the stored JSON's. */
export interface MemoryEvent {
  event_id: string;
  timestamp: string;
  event_type: string;
  content: unknown;
  metadata: Record<string, unknown>;
}

export interface NewEvent {
  event_id?: string | undefined;
  event_type: string;
  content: unknown;
  metadata?: Record<string, unknown> | undefined;
}

// Random bytes drawn from a pool: one getrandom call per 1,024 ids, not one per event.
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

/** KAOS's own id shape: `event_` and 8 hex digits. */
export function newEventId(): string {
  if (poolAt + 4 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  poolAt += 4;
  return `event_${POOL.toString('hex', poolAt - 4, poolAt)}`;
}

/** The stored JSON for a new event, exactly as KAOS's json.dumps(event.to_dict()) prints it. */
export function encodeEvent(input: NewEvent, eventId: string, timestamp: string): string {
  const event: MemoryEvent = {
    event_id: eventId,
    timestamp,
    event_type: input.event_type,
    content: input.content,
    metadata: input.metadata ?? {},
  };
  return pyDumps(event);
}

/**
 * How deeply an event's content and metadata may nest. Python's json fails near
 * 1,000 levels and V8's JSON.stringify near a few thousand; far below both, and
 * far above anything an agent writes.
 */
export const MAX_JSON_DEPTH = 100;

/** Whether a parsed JSON value nests deeper than `max` arrays and objects. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null || value instanceof JsonNumber) return false;
  if (max <= 0) return true;
  // Loops, not Object.values: every stored event read passes here, and an array per
  // object was a tenth of what a read of events allocated.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (nestsDeeperThan(value[i], max - 1)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (Object.hasOwn(record, key) && nestsDeeperThan(record[key], max - 1)) return true;
  }
  return false;
}

/** How many own enumerable keys an object has (Object.keys(o).length without the array). */
function keyCount(record: object): number {
  let count = 0;
  for (const key in record) if (Object.hasOwn(record, key)) count++;
  return count;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const FIELDS = 5;

/**
 * An event read from Redis, answered to clients as its stored text (exact numbers,
 * no second encoding) for as long as none of its fields is replaced.
 */
class StoredEvent extends JsonText implements MemoryEvent {
  readonly #raw: string | Buffer;
  readonly #content: unknown;
  readonly #metadata: Record<string, unknown>;

  event_id: string;
  timestamp: string;
  event_type: string;
  content: unknown;
  metadata: Record<string, unknown>;

  constructor(event: MemoryEvent, raw: string | Buffer) {
    super();
    ({
      event_id: this.event_id,
      timestamp: this.timestamp,
      event_type: this.event_type,
      content: this.content,
      metadata: this.metadata,
    } = event);
    this.#raw = raw;
    this.#content = event.content;
    this.#metadata = event.metadata;
  }

  jsonText(): string | Buffer | undefined {
    const same = this.content === this.#content && this.metadata === this.#metadata;
    return same ? this.#raw : undefined;
  }

  plain(): MemoryEvent {
    const { event_id, timestamp, event_type, content, metadata } = this;
    return { event_id, timestamp, event_type, content, metadata };
  }
}

/**
 * One stored entry, or undefined when it is not a whole event (KAOS skips those
 * too) or nests deeper than the sidecar can safely encode again. Numbers are kept
 * exactly (memory/json.ts), and NaN and Infinity, which Python's json.dumps
 * writes, are read. An entry that is strict JSON holding exactly the five fields
 * is answered to clients as its stored text.
 */
export function decodeEvent(raw: string | Buffer): MemoryEvent | undefined {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let parsed;
  try {
    parsed = parsePythonJson(text);
  } catch {
    return undefined;
  }
  const data = parsed.value;
  if (!isObject(data) || nestsDeeperThan(data, MAX_JSON_DEPTH + 1)) return undefined;
  const { event_id, timestamp, event_type, content, metadata } = data;
  if (typeof event_id !== 'string' || typeof timestamp !== 'string') return undefined;
  if (typeof event_type !== 'string' || !('content' in data) || !isObject(metadata))
    return undefined;
  // Exactly the five fields, each checked above: the parsed object is the event.
  if (parsed.strict && keyCount(data) === FIELDS) {
    // Bytes as Redis sent them are answered as they are, when they are the text read
    // (valid UTF-8): off the V8 heap, they cost the young generation nothing to keep.
    const answered = typeof raw === 'string' || !isUtf8(raw) ? text : raw;
    return new StoredEvent(data as unknown as MemoryEvent, answered);
  }
  return { event_id, timestamp, event_type, content, metadata };
}

/**
 * Stored entries, oldest first, minus malformed ones (counted) and repeats of an
 * event_id already seen (KAOS's reader rules).
 */
export function decodeAll(raw: readonly (string | Buffer)[]): {
  events: MemoryEvent[];
  undecodable: number;
} {
  const seen = new Set<string>();
  const events: MemoryEvent[] = [];
  let undecodable = 0;
  for (const item of raw) {
    const event = decodeEvent(item);
    if (!event) {
      undecodable++;
      continue;
    }
    if (event.event_id !== '') {
      if (seen.has(event.event_id)) continue;
      seen.add(event.event_id);
    }
    events.push(event);
  }
  return { events, undecodable };
}
