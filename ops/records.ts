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
//
// A record is checked whole before anything is written (decodeRecord): a session id
// the API could address, a score Redis accepts, TTLs Redis accepts and that agree with
// what the record holds. Redis does not roll a script back, so a value Redis refuses
// halfway through a restore would leave a half-written session.
import type { StoredSession } from '../memory/store.js';
import { sessionId } from '../sidecar/validation.js';

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

/**
 * One line of the export (without its newline), in pieces that concatenate to it: the
 * record up to its events, then each event, then the rest. Written piece by piece, a
 * large session is never one string of its own size on top of its bytes.
 */
export function* encodeRecordPieces(session: StoredSession): Generator<string> {
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
  const head = JSON.stringify({
    v: FORMAT_VERSION,
    session_id: session.sessionId,
    index_score: session.score ?? null,
    session: hash,
    session_ttl: session.hashTtl,
  });
  yield `${head.slice(0, -1)},"events":[`;
  for (let i = 0; i < session.events.length; i++) {
    const entry = JSON.stringify(toBytes(session.events[i] as Buffer));
    yield i === 0 ? entry : `,${entry}`;
  }
  yield `],"events_ttl":${session.eventsTtl}}`;
}

/** One line of the export (without its newline). */
export function encodeRecord(session: StoredSession): string {
  return [...encodeRecordPieces(session)].join('');
}

/** A decimal score (what Redis prints) or an infinity, as Redis's ZADD reads them. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INFINITE = /^[+-]?inf(inity)?$/i;

/**
 * Whether ZADD takes `score`: a decimal within a double's range (not one that
 * overflows, nor a non-zero one that underflows to 0), or inf, -inf, +inf.
 */
export function isRedisScore(score: string): boolean {
  if (INFINITE.test(score)) return true;
  if (!DECIMAL.test(score)) return false;
  const n = Number(score);
  if (!Number.isFinite(n)) return false;
  return n !== 0 || !/[1-9]/.test(score.replace(/[eE].*$/, ''));
}

type RawRecord = Partial<Record<keyof SessionRecord, unknown>>;

/** A line of the export back as the session to restore; throws RecordError saying what is wrong. */
export function decodeRecord(line: string): StoredSession {
  const r = parseRecord(line);
  const sessionIdValue = checkSessionId(r.session_id);
  checkScore(r.index_score);
  if (typeof r.session !== 'object' || r.session === null || Array.isArray(r.session)) {
    throw new RecordError('session: must be an object');
  }
  if (!Array.isArray(r.events)) throw new RecordError('events: must be an array');
  const hash = Object.entries(r.session as Record<string, unknown>).map(
    ([field, value]): [Buffer, Buffer] => [
      Buffer.from(field, 'utf8'),
      fromBytes(value, `session.${field}`),
    ],
  );
  const events = r.events.map((e, i) => fromBytes(e, `events[${i}]`));
  const hashTtl = ttl(r.session_ttl, 'session_ttl');
  const eventsTtl = ttl(r.events_ttl, 'events_ttl');
  checkPresence(hash.length, hashTtl, events.length, eventsTtl);
  return {
    sessionId: sessionIdValue,
    score: (r.index_score as string | null) ?? undefined,
    hash,
    hashTtl,
    events,
    eventsTtl,
  };
}

function parseRecord(line: string): RawRecord {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch (err) {
    throw new RecordError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new RecordError('not a session record (a JSON object)');
  }
  const r = data as RawRecord;
  if (r.v !== FORMAT_VERSION) throw new RecordError(`v: must be ${FORMAT_VERSION}`);
  return r;
}

function checkSessionId(value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new RecordError('session_id: must be a non-empty string');
  }
  try {
    sessionId.parse(value, '');
  } catch (err) {
    throw new RecordError(
      `session_id: ${JSON.stringify(value.slice(0, 300))} ${(err as Error).message} (the API's rule for session ids)`,
    );
  }
  return value;
}

function checkScore(score: unknown): void {
  if (score !== null && (typeof score !== 'string' || !isRedisScore(score))) {
    throw new RecordError(
      'index_score: must be null or a number Redis takes as a score (a decimal within range, or inf/-inf), as a string',
    );
  }
}

// EXPIRE takes every safe integer (the largest overflows only past 2^63 milliseconds).
function ttl(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < -2) {
    throw new RecordError(`${name}: must be a whole number of seconds, -1 (none) or -2 (no key)`);
  }
  return value as number;
}

function checkPresence(fields: number, hashTtl: number, events: number, eventsTtl: number): void {
  if (fields === 0 && events === 0) {
    throw new RecordError('session and events: both empty, there is nothing to restore');
  }
  if (fields > 0 && hashTtl === -2) {
    throw new RecordError('session_ttl: -2 (no key) for a session hash that has fields');
  }
  if (events > 0 && eventsTtl === -2) {
    throw new RecordError('events_ttl: -2 (no key) for events that are there');
  }
}
