import { describe, expect, it } from 'vitest';
import {
  decodeAll,
  decodeEvent,
  encodeEvent,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  newEventId,
} from './events.js';

describe('events', () => {
  it('encodes keys in KAOS order with Python separators', () => {
    const json = encodeEvent({ event_type: 'user_message', content: 'hi' }, 'event_0a1b2c3d', 'T');
    expect(json).toBe(
      '{"event_id": "event_0a1b2c3d", "timestamp": "T", "event_type": "user_message", "content": "hi", "metadata": {}}',
    );
  });

  it('makes ids in KAOS form', () => {
    expect(newEventId()).toMatch(/^event_[0-9a-f]{8}$/);
  });

  it('skips entries that are not whole events', () => {
    expect(decodeEvent('{not json')).toBeUndefined();
    expect(decodeEvent('[1,2]')).toBeUndefined();
    expect(
      decodeEvent('{"event_id": "a", "timestamp": "t", "event_type": "x", "metadata": {}}'),
    ).toBeUndefined();
    expect(
      decodeEvent(
        '{"event_id": "a", "timestamp": "t", "event_type": "x", "content": 1, "metadata": []}',
      ),
    ).toBeUndefined();
    expect(
      decodeEvent(
        '{"event_id": "a", "timestamp": "t", "event_type": "x", "content": null, "metadata": {}}',
      ),
    ).toEqual({
      event_id: 'a',
      timestamp: 't',
      event_type: 'x',
      content: null,
      metadata: {},
    });
  });

  it('keeps the first of events sharing an event_id, and counts what it skipped', () => {
    const e = (id: string, c: number) => encodeEvent({ event_type: 't', content: c }, id, 'T');
    const out = decodeAll([e('a', 1), 'garbage', e('b', 2), e('a', 3)]);
    expect(out.events.map((o) => [o.event_id, o.content])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(out.undecodable).toBe(1);
  });

  it('skips entries nesting deeper than the limit, and keeps those at it', () => {
    const nest = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    const entry = (levels: number) =>
      `{"event_id": "a", "timestamp": "t", "event_type": "x", "content": ${nest(levels)}, "metadata": {}}`;
    expect(decodeEvent(entry(MAX_JSON_DEPTH))).toBeDefined();
    expect(decodeEvent(entry(MAX_JSON_DEPTH + 1))).toBeUndefined();
    expect(decodeEvent(entry(100_000))).toBeUndefined();
  });

  it('measures nesting without recursing past the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(nestsDeeperThan(deep, 10)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 2)).toBe(true);
  });
});
