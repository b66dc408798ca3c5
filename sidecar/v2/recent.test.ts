import { describe, expect, it } from 'vitest';
import type { MemoryEvent } from '../../memory/events.js';
import { recentWindow, type WindowLimits } from './recent.js';
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

const windowOf = (turns: RecentTurn[], limits: WindowLimits) =>
  recentWindow(turns.map(event), limits, words).recent;

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

  it('holds at most maxTurns turns, and says when older turns could not change it', () => {
    expect(windowOf(convo, { budget: 100, maxTurns: 2 })).toEqual(convo.slice(2));
    expect(recentWindow(convo.map(event), { budget: 100, maxTurns: 2 }, words).complete).toBe(true);
    expect(recentWindow(convo.map(event), { budget: 100, maxTurns: 9 }, words).complete).toBe(
      false,
    );
  });

  it("keeps upstream's tool call (an assistant turn) with its answers, or leaves all of them out", () => {
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

  it("pairs KAOS's Python tool_call events with their results too", () => {
    const events: MemoryEvent[] = [
      event(['user', 'sum it'], 0),
      {
        ...event(['assistant', ''], 1),
        event_type: 'tool_call',
        content: { tool: 'calc', arguments: { x: 1 } },
      },
      { ...event(['tool', ''], 2), content: { tool: 'calc', result: 2 } },
      event(['assistant', 'two'], 3),
    ];
    const w = recentWindow(events, { budget: 100, maxTurns: 100 }, words);
    expect(w.recent).toEqual([
      ['user', 'sum it'],
      ['assistant', '[called tool calc({"x": 1})]'],
      ['tool', '[tool result calc: 2]'],
      ['assistant', 'two'],
    ]);
    // The call and its result (4 + 4 words) go together: at 8 tokens only "two" fits.
    expect(recentWindow(events, { budget: 8, maxTurns: 100 }, words).recent).toEqual([
      ['assistant', 'two'],
    ]);
  });

  it('leaves out an answer whose call the session does not hold, as providers refuse one', () => {
    const turns: RecentTurn[] = [
      ['tool', 'late answer'],
      ['user', 'hi'],
    ];
    expect(windowOf(turns, { budget: 10, maxTurns: 10 })).toEqual([['user', 'hi']]);
  });

  it('passes over events that are not turns, and keeps a pinned instruction', () => {
    const events: MemoryEvent[] = [
      { ...event(['user', 'x'], 0), event_type: 'error' },
      {
        ...event(['user', 'always answer in French'], 1),
        event_type: 'instruction',
        metadata: { pinned: true },
      },
      event(['user', 'a b c d e'], 2),
      event(['user', 'hi there'], 3),
    ];
    const w = recentWindow(events, { budget: 6, maxTurns: 10 }, words);
    expect(w.recent).toEqual([
      ['system', 'always answer in French'],
      ['user', 'hi there'],
    ]);
    expect(w.tokens).toBe(6);
  });
});
