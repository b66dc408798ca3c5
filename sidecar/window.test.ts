import { describe, expect, it } from 'vitest';
import { selectWindow, windowReadBytes, type WindowEvent, type WindowInput } from './window.js';

type E = WindowEvent & { tokens: number };

let n = 0;
function ev(event_type: string, metadata: Record<string, unknown> = {}, tokens = 10): E {
  n++;
  return { event_id: `e${n}`, event_type, metadata, tokens };
}
const user = (m?: Record<string, unknown>, t?: number) => ev('user_message', m, t);
const agent = (m?: Record<string, unknown>, t?: number) => ev('agent_response', m, t);
const call = (id?: string, t?: number) => ev('tool_call', id ? { tool_call_id: id } : {}, t);
const result = (id?: string, t?: number) => ev('tool_result', id ? { tool_call_id: id } : {}, t);
const digestOf = (to: E, t = 10) =>
  ev('summary', { version: 1, from_event_id: 'e0', to_event_id: to.event_id }, t);

function window(events: E[], maxTokens: number, extra: Partial<WindowInput<E>> = {}) {
  return selectWindow<E>({ events, maxTokens, cost: (e) => e.tokens, ...extra });
}
const ids = (events: readonly E[]) => events.map((e) => e.event_id);

describe('selectWindow', () => {
  it('keeps the newest events that fit the budget exactly, oldest first', () => {
    const events = [user(), agent(), user(), agent(), user()];
    const w = window(events, 30);
    expect(ids(w.events)).toEqual(ids(events.slice(2)));
    expect(w.tokens).toBe(30);
    expect(w.dropped.budget).toBe(2);
    expect(w.complete).toBe(true);
    // One token less and the oldest of them goes.
    expect(ids(window(events, 29).events)).toEqual(ids(events.slice(3)));
  });

  it('stops at the first event that does not fit: no gaps', () => {
    const events = [user({}, 1), agent({}, 50), user({}, 5)];
    const w = window(events, 20);
    expect(ids(w.events)).toEqual([events[2]?.event_id]);
    expect(w.dropped.budget).toBe(2);
  });

  it('is incomplete while the budget has room: an older read could add events', () => {
    const w = window([user(), agent()], 1000);
    expect(w.events).toHaveLength(2);
    expect(w.complete).toBe(false);
  });

  it('always keeps pinned events, first the copies no longer in the list', () => {
    const trimmed = user({ pinned: true }, 5);
    const pinnedInList = agent({ pinned: true }, 5);
    const events = [pinnedInList, user(), agent(), user(), agent()];
    const w = window(events, 30, { pinned: [trimmed, pinnedInList] });
    expect(ids(w.events)).toEqual([
      trimmed.event_id,
      pinnedInList.event_id,
      events[3]?.event_id,
      events[4]?.event_id,
    ]);
    expect(w.tokens).toBe(30);
    expect(w.pinned).toBe(2);
    expect(w.overBudget).toBe(false);
  });

  it('keeps pinned events even past the budget, and says so', () => {
    const events = [user({ pinned: true }, 50), user(), agent()];
    const w = window(events, 20);
    expect(ids(w.events)).toEqual([events[0]?.event_id]);
    expect(w.overBudget).toBe(true);
    expect(w.dropped.budget).toBe(2);
  });

  it('drops a tool call and its result together, matched by tool_call_id', () => {
    const events = [user(), call('c1'), user({}, 1), result('c1'), agent()];
    // Room for the answer and the result, not for the call as well: the window ends there.
    const w = window(events, 25);
    expect(ids(w.events)).toEqual([events[4]?.event_id]);
    expect(w.dropped.toolGroups).toBe(1);
    expect(w.dropped.budget).toBe(4);
    const wide = window(events, 31);
    expect(ids(wide.events)).toEqual(ids(events.slice(1)));
  });

  it('pairs by adjacency without ids, parallel calls answered in order included', () => {
    const events = [user(), call(), call(), result(), result(), agent()];
    expect(ids(window(events, 49).events)).toEqual([events[5]?.event_id]);
    expect(ids(window(events, 50).events)).toEqual(ids(events.slice(1)));
  });

  it('leaves out a result whose call is gone and a call with no result yet', () => {
    const events = [result('gone'), user(), agent(), call('c2'), result(), user(), call('open')];
    const w = window(events, 1000);
    expect(ids(w.events)).toEqual(ids(events.slice(1, 6)));
    expect(w.dropped.unpaired).toBe(2);
  });

  it('keeps the partner of a pinned tool event', () => {
    const events = [call('c'), result('c', 10), user(), agent()];
    events[1]!.metadata = { tool_call_id: 'c', pinned: true };
    const w = window(events, 30);
    expect(ids(w.events)).toEqual([events[0]?.event_id, events[1]?.event_id, events[3]?.event_id]);
  });

  it('starts from the newest digest and leaves out what it summarises', () => {
    const older = [user(), agent(), user()];
    const oldDigest = digestOf(older[0]!);
    const digest = digestOf(older[2]!);
    const newer = [agent(), user()];
    const pinned = older[1]!;
    pinned.metadata = { pinned: true };
    const events = [...older.slice(0, 1), oldDigest, ...older.slice(1), digest, ...newer];
    const w = window(events, 1000, { digest });
    expect(ids(w.events)).toEqual([digest.event_id, pinned.event_id, ...ids(newer)]);
    expect(w.digest).toBe(digest);
    expect(w.dropped.summarised).toBe(3); // two summarised events and the older digest
    expect(w.tokens).toBe(40);
    expect(w.complete).toBe(true);
  });

  it('reads on when the digest covers events older than those read', () => {
    const gone = user();
    const events = [agent(), user()];
    const w = window(events, 1000, { digest: digestOf(gone) });
    expect(ids(w.events)).toHaveLength(3);
    expect(w.complete).toBe(false);
  });

  it('drops the digest when it does not fit beside the pinned events', () => {
    const first = user({ pinned: true }, 15);
    const digest = digestOf(first, 10);
    const w = window([first, digest, agent({}, 5)], 20, { digest });
    expect(ids(w.events)).toEqual([first.event_id, expect.any(String)]);
    expect(w.digest).toBeUndefined();
    expect(w.dropped.digest).toBe(true);
  });

  it('holds at most maxEvents besides the digest', () => {
    const events = [user(), agent(), user(), agent()];
    const w = window(events, 1000, { maxEvents: 3 });
    expect(ids(w.events)).toEqual(ids(events.slice(1)));
    expect(w.complete).toBe(true);
  });

  it('shows only the types asked for, and pinned events of any type', () => {
    const note = ev('note', { pinned: true });
    const events = [note, user(), ev('error'), agent()];
    const w = window(events, 1000, {
      shows: (e) => e.event_type === 'user_message' || e.event_type === 'agent_response',
    });
    expect(ids(w.events)).toEqual([note.event_id, events[1]?.event_id, events[3]?.event_id]);
    expect(w.tokens).toBe(30);
  });

  it('never splits a pair, never exceeds the budget, always keeps pinned: random sessions', () => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 500; round++) {
      const events: E[] = [];
      const open: string[] = [];
      for (let i = 0; i < 30; i++) {
        const r = next();
        const t = 1 + Math.floor(next() * 20);
        if (r < 0.25) events.push(user({ pinned: next() < 0.1 }, t));
        else if (r < 0.5) events.push(agent({}, t));
        else if (r < 0.75) {
          const id = `c${round}-${i}`;
          open.push(id);
          events.push(call(id, t));
        } else if (open.length > 0) {
          const id = open.splice(Math.floor(next() * open.length), 1)[0];
          events.push(result(id, t));
        }
      }
      const maxTokens = Math.floor(next() * 200);
      const w = window(events, maxTokens);
      const kept = new Set(ids(w.events));
      if (!w.overBudget) expect(w.tokens).toBeLessThanOrEqual(maxTokens);
      expect(w.tokens).toBe(w.events.reduce((s, e) => s + e.tokens, 0));
      for (const e of events) {
        if (e.metadata?.pinned === true) expect(kept.has(e.event_id)).toBe(true);
        if (
          !kept.has(e.event_id) ||
          (e.event_type !== 'tool_call' && e.event_type !== 'tool_result')
        )
          continue;
        const partner = e.event_type === 'tool_call' ? 'tool_result' : 'tool_call';
        const partners = events.filter(
          (p) => p.event_type === partner && p.metadata?.tool_call_id === e.metadata?.tool_call_id,
        );
        expect(partners.length).toBeGreaterThan(0);
        for (const p of partners) expect(kept.has(p.event_id)).toBe(true);
      }
      const counted =
        w.events.length + w.dropped.budget + w.dropped.unpaired + w.dropped.summarised;
      expect(counted).toBe(events.length);
      // With room for everything, only the calls still open are left out.
      const all = window(events, 1e9);
      expect(all.events).toHaveLength(events.length - open.length);
      expect(all.dropped.unpaired).toBe(open.length);
    }
  });
});

describe('windowReadBytes', () => {
  it('reads 12 bytes a token first, then what the missing tokens took so far, a quarter more', () => {
    expect(windowReadBytes(4096)).toBe(4096 * 12);
    expect(windowReadBytes(100)).toBe(8 * 1024);
    // 1,000 of 4,000 tokens in 40 KB: the 3,000 missing at 40 bytes each, and a quarter.
    expect(windowReadBytes(4000, { bytes: 40_000, tokens: 1000 })).toBe(150_000);
    // Nothing shown yet: four times as far back again.
    expect(windowReadBytes(4000, { bytes: 40_000, tokens: 0 })).toBe(160_000);
    expect(windowReadBytes(4000, { bytes: 40_000, tokens: 3999 })).toBe(8 * 1024);
  });
});
