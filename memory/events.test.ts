import { describe, expect, it } from 'vitest';
import { decodeEvent, decodeIndexed, encodeEvent, newEventId } from './events.js';

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

  it('keeps the first of events sharing an event_id, with positions', () => {
    const e = (id: string, c: number) => encodeEvent({ event_type: 't', content: c }, id, 'T');
    const out = decodeIndexed([e('a', 1), 'garbage', e('b', 2), e('a', 3)]);
    expect(out.map((o) => [o.at, o.event.event_id, o.event.content])).toEqual([
      [0, 'a', 1],
      [2, 'b', 2],
    ]);
  });
});
