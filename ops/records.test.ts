import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../harness/redis.js';
import type { StoredSession } from '../memory/store.js';
import { decodeRecord, encodeRecord, isRedisScore, RecordError } from './records.js';

const session = (over: Partial<StoredSession> = {}): StoredSession => ({
  sessionId: 's1',
  score: '1771322400.123456',
  hash: [
    [Buffer.from('session_id'), Buffer.from('s1')],
    [Buffer.from('user_id'), Buffer.from('ünïcode')],
  ],
  hashTtl: 86_000,
  events: [Buffer.from('{"event_id": "e1", "content": "\\u00e9"}'), Buffer.from('not json')],
  eventsTtl: 85_999,
  ...over,
});

describe('session records', () => {
  it('round-trips every byte, UTF-8 as text and anything else as base64', () => {
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const original = session({ events: [Buffer.from('plain'), binary], score: undefined });
    const line = encodeRecord(original);
    expect(JSON.parse(line).events).toEqual(['plain', { base64: binary.toString('base64') }]);
    expect(JSON.parse(line).index_score).toBeNull();
    expect(decodeRecord(line)).toEqual(original);
  });

  it('is one line of JSON whatever the content', () => {
    const line = encodeRecord(session({ events: [Buffer.from('a\nb\u2028c')] }));
    expect(line).not.toContain('\n');
    expect(decodeRecord(line).events[0]?.toString()).toBe('a\nb\u2028c');
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['an array', '[]', /not a session record/],
    ['another version', '{"v":2}', /v: must be 1/],
    ['no session id', '{"v":1,"session_id":""}', /session_id/],
    [
      'a bad score',
      '{"v":1,"session_id":"s","index_score":"x","session":{},"session_ttl":1,"events":[],"events_ttl":1}',
      /index_score/,
    ],
    [
      'a bad TTL',
      '{"v":1,"session_id":"s","index_score":null,"session":{},"session_ttl":1.5,"events":[],"events_ttl":1}',
      /session_ttl/,
    ],
    [
      'a session id the API could not address',
      '{"v":1,"session_id":"a b","index_score":null,"session":{"a":"b"},"session_ttl":1,"events":[],"events_ttl":-2}',
      /session_id: "a b" may hold only letters/,
    ],
    [
      'a score Redis refuses',
      '{"v":1,"session_id":"s","index_score":"nan","session":{"a":"b"},"session_ttl":1,"events":[],"events_ttl":-2}',
      /index_score/,
    ],
    [
      'a TTL saying there is no key for data that is there',
      '{"v":1,"session_id":"s","index_score":null,"session":{},"session_ttl":-2,"events":["e"],"events_ttl":-2}',
      /events_ttl: -2 \(no key\) for events/,
    ],
    [
      'nothing to restore',
      '{"v":1,"session_id":"s","index_score":"1","session":{},"session_ttl":-2,"events":[],"events_ttl":-2}',
      /nothing to restore/,
    ],
    [
      'a bad event',
      '{"v":1,"session_id":"s","index_score":null,"session":{},"session_ttl":1,"events":[3],"events_ttl":1}',
      /events\[0\]/,
    ],
  ])('refuses %s, saying what is wrong', (_what, line, message) => {
    expect(() => decodeRecord(line)).toThrow(RecordError);
    expect(() => decodeRecord(line)).toThrow(message);
  });
});

describe('isRedisScore', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('takes exactly the scores a real ZADD takes (hexadecimal aside, which no export holds)', async () => {
    const client = redis.client();
    try {
      const candidates = [
        ...['1', '1.5', '-2', '1e3', '1E3', '1e+3', '.5', '5.', '0e0', '+1', '-0', '0.0'],
        ...['1771322400.123456', '1.7976931348623157e308', '5e-324', '2.2250738585072014e-308'],
        ...['inf', '-inf', '+inf', 'INF', 'Infinity', '-infinity'],
        ...['nan', 'NaN', '1e400', '-1e400', '1e-400', ' 1', '1 ', '', 'abc', '1e', '--1', '1..2'],
      ];
      for (const score of candidates) {
        const redisTakes = await client.zadd('scores', score, 'm').then(
          () => true,
          () => false,
        );
        expect(isRedisScore(score), JSON.stringify(score)).toBe(redisTakes);
      }
      expect(await client.zadd('scores', '0x10', 'm')).toBe(0);
      expect(isRedisScore('0x10')).toBe(false);
    } finally {
      client.disconnect();
    }
  });
});
