import { describe, expect, it } from 'vitest';
import { JsonNumber, stringifyJson } from './json.js';
import {
  decodeAll,
  decodeEvent,
  encodeEvent,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  newEventId,
  type MemoryEvent,
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
    const objects = JSON.parse(`${'{"a": 1, "b":'.repeat(5)}{}${'}'.repeat(5)}`) as unknown;
    expect(nestsDeeperThan(objects, 6)).toBe(false);
    expect(nestsDeeperThan(objects, 5)).toBe(true);
  });

  it("reads Python's NaN and Infinity instead of skipping the event, and answers them as null", () => {
    const raw =
      '{"event_id": "e", "timestamp": "t", "event_type": "tool_result", "content": {"score": NaN, "hi": Infinity, "lo": -Infinity}, "metadata": {}}';
    const event = decodeEvent(raw);
    expect(event?.content).toEqual({
      score: Number.NaN,
      hi: Number.POSITIVE_INFINITY,
      lo: Number.NEGATIVE_INFINITY,
    });
    expect(JSON.parse(stringifyJson(event) ?? '')).toMatchObject({
      content: { score: null, hi: null, lo: null },
    });
    expect(decodeAll([raw, raw.replace('"e"', '"f"')]).events).toHaveLength(2);
  });

  it('keeps every number as stored, and answers a whole event with its stored text', () => {
    const raw =
      '{"event_id": "e", "timestamp": "t", "event_type": "x", "content": {"id": 9223372036854775809, "f": 3.0, "s": 2.5e-05}, "metadata": {"n": 1e+16}}';
    const event = decodeEvent(raw);
    const content = event?.content as Record<string, unknown>;
    expect((content.id as JsonNumber).text).toBe('9223372036854775809');
    expect((content.f as JsonNumber).text).toBe('3.0');
    expect(stringifyJson({ events: [event] })).toBe(`{"events":[${raw}]}`);
    // Re-encoded the way KAOS writes: the same bytes.
    expect(encodeEvent(event as MemoryEvent, 'e', 't')).toBe(raw);
    // A copy, or the event once a field is replaced, is written from its fields.
    expect(stringifyJson({ ...event })).toContain('"s":0.000025');
    (event as MemoryEvent).content = 'replaced';
    expect(stringifyJson(event)).toBe(
      '{"event_id":"e","timestamp":"t","event_type":"x","content":"replaced","metadata":{"n":1e+16}}',
    );
  });

  it('answers an event with fields beyond the five as those five, numbers as stored', () => {
    const raw =
      '{"event_id": "e", "timestamp": "t", "event_type": "x", "content": 3.0, "metadata": {}, "extra": 1}';
    expect(stringifyJson(decodeEvent(raw))).toBe(
      '{"event_id":"e","timestamp":"t","event_type":"x","content":3.0,"metadata":{}}',
    );
  });
});
