import { describe, expect, it } from 'vitest';
import type { MemoryEvent } from '../../memory/events.js';
import { RecentWindow, type WindowLimits } from './recent.js';
import type { RecentTurn } from './turns.js';

/** One token per word: easy to reason about in a test. */
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

const TYPE: Record<string, string> = {
  user: 'user_message',
  assistant: 'agent_response',
  tool: 'tool_result',
};

function event([role, content]: RecentTurn, i: number): MemoryEvent {
  return {
    event_id: `event_${i}`,
    timestamp: '2026-02-17T10:00:00.000000+00:00',
    event_type: TYPE[role] ?? 'message',
    content,
    metadata: TYPE[role] ? {} : { role },
  };
}

/** The window over `turns` (oldest first), fed newest first as the reader does. */
function windowOf(turns: RecentTurn[], limits: WindowLimits): RecentTurn[] {
  const w = new RecentWindow(limits, words);
  const events = turns.map(event);
  for (let i = events.length - 1; i >= 0; i--) {
    if (!w.offer(events[i] as MemoryEvent)) return w.result(false);
  }
  return w.result(true);
}

const tokens = (turns: RecentTurn[]) => turns.reduce((n, [, c]) => n + words(c), 0);

const convo: RecentTurn[] = [
  ['user', 'one two three'],
  ['assistant', 'four five'],
  ['user', 'six'],
  ['assistant', 'seven eight nine ten'],
];

describe('the short-term window', () => {
  it('is the newest run of turns whose tokens fit the budget, oldest first', () => {
    expect(windowOf(convo, { budget: 100, maxTurns: 100 })).toEqual(convo);
    expect(windowOf(convo, { budget: 4, maxTurns: 100 })).toEqual(convo.slice(3));
    expect(windowOf(convo, { budget: 5, maxTurns: 100 })).toEqual(convo.slice(2));
    expect(windowOf(convo, { budget: 6, maxTurns: 100 })).toEqual(convo.slice(2));
    expect(windowOf(convo, { budget: 7, maxTurns: 100 })).toEqual(convo.slice(1));
    expect(windowOf(convo, { budget: 3, maxTurns: 100 })).toEqual([]);
    expect(windowOf(convo, { budget: 0, maxTurns: 100 })).toEqual([]);
  });

  it('honours every budget exactly: within it, and the next older turn would not fit', () => {
    for (let budget = 0; budget <= tokens(convo) + 1; budget++) {
      const w = windowOf(convo, { budget, maxTurns: 100 });
      expect(tokens(w)).toBeLessThanOrEqual(budget);
      const older = convo[convo.length - w.length - 1];
      if (older) expect(tokens(w) + words(older[1])).toBeGreaterThan(budget);
    }
  });

  it('stops at the first turn that does not fit, never skipping to an older, smaller one', () => {
    const turns: RecentTurn[] = [
      ['user', 'a'],
      ['assistant', 'b c d e f'],
      ['user', 'g'],
    ];
    expect(windowOf(turns, { budget: 3, maxTurns: 100 })).toEqual([['user', 'g']]);
  });

  it('holds at most maxTurns turns', () => {
    expect(windowOf(convo, { budget: 100, maxTurns: 2 })).toEqual(convo.slice(2));
  });

  it('keeps a tool call with its answers, or leaves all of them out', () => {
    const turns: RecentTurn[] = [
      ['user', 'weather in nyc'],
      ['assistant', '[called tool search({"city": "NYC"})]'],
      ['tool', '[tool result search: rainy]'],
      ['tool', '[tool result search: 12C]'],
      ['assistant', 'rainy and 12C'],
    ];
    // 3 + 4 + 4 + 4 + 3 words: the call and its two answers cost 12 together.
    expect(windowOf(turns, { budget: 14, maxTurns: 100 })).toEqual(turns.slice(4));
    expect(windowOf(turns, { budget: 15, maxTurns: 100 })).toEqual(turns.slice(1));
    expect(windowOf(turns, { budget: 100, maxTurns: 3 })).toEqual(turns.slice(4));
    expect(windowOf(turns, { budget: 100, maxTurns: 4 })).toEqual(turns.slice(1));
  });

  it('keeps answers whose call the session does not have, when they fit', () => {
    const turns: RecentTurn[] = [
      ['tool', 'late answer'],
      ['user', 'hi'],
    ];
    expect(windowOf(turns, { budget: 10, maxTurns: 10 })).toEqual(turns);
    const w = new RecentWindow({ budget: 10, maxTurns: 10 }, words);
    w.offer(event(turns[1]!, 1));
    w.offer(event(turns[0]!, 0));
    expect(w.result(false)).toEqual([['user', 'hi']]);
  });

  it('passes over events that are not turns', () => {
    const w = new RecentWindow({ budget: 10, maxTurns: 10 }, words);
    expect(w.offer({ ...event(['user', 'x'], 0), event_type: 'error' })).toBe(true);
    expect(w.offer(event(['user', 'hi there'], 1))).toBe(true);
    expect(w.result(true)).toEqual([['user', 'hi there']]);
    expect(w.tokens).toBe(2);
  });
});
