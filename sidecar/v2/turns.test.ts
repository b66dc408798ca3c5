import { describe, expect, it } from 'vitest';
import { encodeEvent, decodeEvent, type MemoryEvent } from '../../memory/events.js';
import { eventTurn, turnEvent } from './turns.js';

function stored(role: string, content: string): MemoryEvent {
  const raw = encodeEvent(
    turnEvent(role, content),
    'event_00000001',
    '2026-02-17T10:00:00.000000+00:00',
  );
  return decodeEvent(raw) as MemoryEvent;
}

describe('turns as KAOS events', () => {
  it('maps user, assistant and tool to KAOS event types, and keeps other roles in metadata', () => {
    expect(turnEvent('user', 'hi')).toEqual({ event_type: 'user_message', content: 'hi' });
    expect(turnEvent('assistant', 'yo')).toEqual({ event_type: 'agent_response', content: 'yo' });
    expect(turnEvent('tool', 'r')).toEqual({ event_type: 'tool_result', content: 'r' });
    expect(turnEvent('system', 's')).toEqual({
      event_type: 'message',
      content: 's',
      metadata: { role: 'system' },
    });
  });

  it('reads every role and content back as written, through the stored bytes', () => {
    for (const role of ['user', 'assistant', 'tool', 'system', 'developer']) {
      const content = `Grüße 👋 "${role}"\n{"json": true}`;
      expect(eventTurn(stored(role, content))).toEqual([role, content]);
    }
  });

  it("renders KAOS's Python tool calls and results as upstream's v2 runtime writes them", () => {
    const base = { event_id: 'e', timestamp: 't', metadata: {} };
    expect(
      eventTurn({
        ...base,
        event_type: 'tool_call',
        content: { tool: 'calculator', arguments: { expr: '2+2', n: [1, 2] } },
      }),
    ).toEqual(['assistant', '[called tool calculator({"expr": "2+2", "n": [1, 2]})]']);
    expect(
      eventTurn({ ...base, event_type: 'tool_result', content: { tool: 'calculator', result: 4 } }),
    ).toEqual(['tool', '[tool result calculator: 4]']);
    expect(eventTurn({ ...base, event_type: 'user_message', content: { a: 'é' } })).toEqual([
      'user',
      '{"a": "\\u00e9"}',
    ]);
  });

  it('is no turn for events that are not conversation', () => {
    const base = { event_id: 'e', timestamp: 't', content: 'x', metadata: {} };
    expect(eventTurn({ ...base, event_type: 'error' })).toBeUndefined();
    expect(eventTurn({ ...base, event_type: 'summary' })).toBeUndefined();
    expect(eventTurn({ ...base, event_type: 'message' })).toBeUndefined();
  });
});
