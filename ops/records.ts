// The export format of `kaos-memory sessions export|import`: JSON Lines, one session
// per line, holding exactly what Redis stores, so an import writes back the same
// bytes. A hash field value or list entry is a JSON string when its bytes are valid
// UTF-8 (always, for what KAOS and the sidecar write), else {"base64": "..."}.
//
//   {"v":1,"session_id":"S","index_score":"1771322400.123456",
//    "session":{"session_id":"S","user_id":"u",…},"session_ttl":86000,
//    "events":["{\"event_id\": \"event_1a2b3c4d\", …}",…],"events_ttl":86000}
//
// TTLs are the seconds left at export (-1: the key never expires; -2: it does not
// exist); index_score is null when the index does not list the session.
import type { StoredSession } from '../memory/store.js';

export const FORMAT_VERSION = 1;

type Bytes = string | { base64: string };

export interface SessionRecord {
  v: number;
  session_id: string;
  index_score: string | null;
  session: Record<string, Bytes>;
  session_ttl: number;
  events: Bytes[];
  events_ttl: number;
}

/** A line that is not a session record; `line` counts from 1. */
export class RecordError extends Error {
  override readonly name = 'RecordError';
}

function toBytes(buffer: Buffer): Bytes {
  const text = buffer.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD, which does not encode back to the same bytes.
  return Buffer.byteLength(text) === buffer.length && Buffer.from(text).equals(buffer)
    ? text
    : { base64: buffer.toString('base64') };
}

function fromBytes(value: unknown, where: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { base64?: unknown }).base64 === 'string'
  ) {
    return Buffer.from((value as { base64: string }).base64, 'base64');
  }
  throw new RecordError(`${where}: must be a string or {"base64": "..."}`);
}

/** One line of the export (without its newline). */
export function encodeRecord(session: StoredSession): string {
  const hash: Record<string, Bytes> = {};
  for (const [field, value] of session.hash) {
    const name = toBytes(field);
    // JSON keys are text: a field name that is not UTF-8 cannot be carried. The layout's
    // fields are fixed ASCII names, so this means something else wrote the key.
    if (typeof name !== 'string') {
      throw new RecordError(
        `session ${session.sessionId}: a hash field name is not UTF-8; it cannot be exported`,
      );
    }
    hash[name] = toBytes(value);
  }
  const record: SessionRecord = {
    v: FORMAT_VERSION,
    session_id: session.sessionId,
    index_score: session.score ?? null,
    session: hash,
    session_ttl: session.hashTtl,
    events: session.events.map(toBytes),
    events_ttl: session.eventsTtl,
  };
  return JSON.stringify(record);
}

const SCORE = /^-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** A line of the export back as the session to restore; throws RecordError saying what is wrong. */
export function decodeRecord(line: string): StoredSession {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch (err) {
    throw new RecordError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new RecordError('not a session record (a JSON object)');
  }
  const r = data as Partial<Record<keyof SessionRecord, unknown>>;
  if (r.v !== FORMAT_VERSION) throw new RecordError(`v: must be ${FORMAT_VERSION}`);
  if (typeof r.session_id !== 'string' || r.session_id === '') {
    throw new RecordError('session_id: must be a non-empty string');
  }
  if (r.index_score !== null && (typeof r.index_score !== 'string' || !SCORE.test(r.index_score))) {
    throw new RecordError('index_score: must be a number as a string, or null');
  }
  const ttl = (value: unknown, name: string): number => {
    if (!Number.isSafeInteger(value) || (value as number) < -2) {
      throw new RecordError(`${name}: must be a whole number of seconds, -1 or -2`);
    }
    return value as number;
  };
  if (typeof r.session !== 'object' || r.session === null || Array.isArray(r.session)) {
    throw new RecordError('session: must be an object');
  }
  if (!Array.isArray(r.events)) throw new RecordError('events: must be an array');
  return {
    sessionId: r.session_id,
    score: r.index_score ?? undefined,
    hash: Object.entries(r.session as Record<string, unknown>).map(([field, value]) => [
      Buffer.from(field, 'utf8'),
      fromBytes(value, `session.${field}`),
    ]),
    hashTtl: ttl(r.session_ttl, 'session_ttl'),
    events: r.events.map((e, i) => fromBytes(e, `events[${i}]`)),
    eventsTtl: ttl(r.events_ttl, 'events_ttl'),
  };
}
