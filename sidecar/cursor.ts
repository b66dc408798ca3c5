// Opaque cursors: base64url JSON, checked on the way back in.
import { BadRequestError } from './errors.js';
import type { EventCursor, SessionCursor } from '../memory/store.js';

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequestError('cursor is not one this server issued');
  }
}

export function encodeSessionCursor(c: SessionCursor): string {
  return encode({ s: c.score, m: c.member });
}

/** A score as Redis prints it: a decimal, or inf and -inf (a score Python or an operator set). */
const SCORE = /^([+-]?inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/i;

export function decodeSessionCursor(cursor: string): SessionCursor {
  const v = decode(cursor) as { s?: unknown; m?: unknown } | null;
  if (typeof v?.s !== 'string' || typeof v.m !== 'string' || !SCORE.test(v.s)) {
    throw new BadRequestError('cursor is not one this server issued');
  }
  return { score: v.s, member: v.m };
}

export function encodeEventCursor(c: EventCursor): string {
  return encode({ i: c.position, e: c.eventId });
}

export function decodeEventCursor(cursor: string): EventCursor {
  const v = decode(cursor) as { i?: unknown; e?: unknown } | null;
  if (!Number.isSafeInteger(v?.i) || (v?.i as number) < 0 || typeof v?.e !== 'string') {
    throw new BadRequestError('cursor is not one this server issued');
  }
  return { position: v.i as number, eventId: v.e };
}
