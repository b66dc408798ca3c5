import { describe, expect, it } from 'vitest';
import {
  decodeEventCursor,
  decodeSessionCursor,
  encodeEventCursor,
  encodeSessionCursor,
} from './cursor.js';

describe('cursors', () => {
  it('round-trip', () => {
    const s = { score: '1771322400.1234560', member: 'session_1' };
    expect(decodeSessionCursor(encodeSessionCursor(s))).toEqual(s);
    const e = { position: 42, eventId: 'event_1' };
    expect(decodeEventCursor(encodeEventCursor(e))).toEqual(e);
  });

  it.each(['inf', '+inf', '-inf', '1.5e+09'])(
    'takes back a session cursor at score %s',
    (score) => {
      // Redis prints an infinite score (ZADD accepts one) as inf: a cursor there was issued here.
      const s = { score, member: 'session_1' };
      expect(decodeSessionCursor(encodeSessionCursor(s))).toEqual(s);
    },
  );

  it.each(['', 'bm90IGpzb24', Buffer.from('{"s":"x","m":"a"}').toString('base64url')])(
    'rejects %j',
    (c) => {
      expect(() => decodeSessionCursor(c)).toThrow(/cursor/);
      expect(() => decodeEventCursor(c)).toThrow(/cursor/);
    },
  );
});
