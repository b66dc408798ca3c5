// The session index (P:meta, P:ids, P:types beside the KAOS keys) on a real Redis,
// with entries written straight to the list as KAOS's Python RedisMemory writes them
// (RPUSH of json.dumps, LTRIM to its cap): picked up incrementally, so idempotency
// and type filters stay exact; more than the walk's budget at once, and the index
// restarts from the newest entries and catches up; event types compared as their
// JSON tokens; event_count as readers count.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { pyDumps } from '../../memory/pyjson.js';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_MAX_SESSION_EVENTS: '400' });
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

/** An entry as KAOS's RedisMemory stores it: json.dumps(event.to_dict()). */
function pythonEntry(id: string, type: string, content: unknown): string {
  return pyDumps({
    event_id: id,
    timestamp: '2026-02-17T10:00:00.123456+00:00',
    event_type: type,
    content,
    metadata: {},
  });
}

/** What RedisMemory.add_event does, in one pipeline. */
async function pythonAppend(session: string, entries: string[], cap = 400): Promise<void> {
  await raw
    .multi()
    .rpush(`${P}:events:${session}`, ...entries)
    .ltrim(`${P}:events:${session}`, -cap, -1)
    .hset(`${P}:session:${session}`, 'updated_at', '2026-02-17T10:00:01.000000+00:00')
    .zadd(`${P}:sessions`, Date.now() / 1000, session)
    .exec();
}

const post = (path: string, body: unknown) => call(sc.url, 'POST', path, body);

/** `count` user messages sc-0, sc-1… appended through the sidecar, one request each. */
async function sidecarAppends(session: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await post(`/v1/sessions/${session}/events`, {
      event_id: `sc-${i}`,
      event_type: 'user_message',
      content: i,
    });
  }
}

async function allEvents(
  session: string,
  limit = 50,
): Promise<{ event_id: string; event_type: string }[]> {
  const out: { event_id: string; event_type: string }[] = [];
  let cursor = '';
  for (let pages = 0; pages < 100; pages++) {
    const res = await call(
      sc.url,
      'GET',
      `/v1/sessions/${session}/events?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(res.status).toBe(200);
    out.unshift(...res.body.events);
    if (!res.body.next_cursor) return out;
    cursor = res.body.next_cursor as string;
  }
  throw new Error('paging did not end');
}

describe('entries written straight to Redis', () => {
  it('are indexed at the next write: a retry of one is a duplicate, and reads see them in order', async () => {
    const s = 'py-few';
    expect(
      (
        await post(`/v1/sessions/${s}/events`, {
          event_id: 'a1',
          event_type: 'user_message',
          content: 1,
        })
      ).status,
    ).toBe(201);
    await pythonAppend(s, [
      pythonEntry('py-1', 'agent_response', 'two'),
      pythonEntry('py-2', 'tool_call', { tool: 'x' }),
    ]);
    const retry = await post(`/v1/sessions/${s}/events`, {
      event_id: 'py-2',
      event_type: 'tool_call',
      content: { tool: 'x' },
    });
    expect(retry.status).toBe(200);
    expect(retry.body.events).toEqual([{ event_id: 'py-2', stored: false, seq: null }]);
    const next = await post(`/v1/sessions/${s}/events`, {
      event_id: 'a2',
      event_type: 'user_message',
      content: 4,
    });
    expect(next.body.events).toEqual([{ event_id: 'a2', stored: true, seq: 2 }]);
    expect((await allEvents(s)).map((e) => e.event_id)).toEqual(['a1', 'py-1', 'py-2', 'a2']);
    const turns = await call(
      sc.url,
      'GET',
      `/v1/sessions/${s}/events?types=agent_response,user_message`,
    );
    expect(turns.body.events.map((e: { event_id: string }) => e.event_id)).toEqual([
      'a1',
      'py-1',
      'a2',
    ]);
    expect((await call(sc.url, 'GET', `/v1/sessions/${s}`)).body.event_count).toBe(4);
  });

  it('more than the walk looks at between two writes: the newest are indexed at once, the rest soon after', async () => {
    const s = 'py-many';
    await post(`/v1/sessions/${s}/events`, {
      event_id: 'first',
      event_type: 'user_message',
      content: 0,
    });
    // 300 entries: more than one call's walk (256 entries).
    await pythonAppend(
      s,
      Array.from({ length: 300 }, (_, i) =>
        pythonEntry(`py-${i}`, i % 2 ? 'tool_result' : 'user_message', i),
      ),
    );
    const newest = await post(`/v1/sessions/${s}/events`, {
      event_id: 'py-299',
      event_type: 'tool_result',
      content: 299,
    });
    expect(newest.body.events[0]).toMatchObject({ stored: false });
    // Each read and write indexes some more of what the walk could not reach at first.
    for (let i = 0; i < 4; i++) await call(sc.url, 'GET', `/v1/sessions/${s}`);
    const oldest = await post(`/v1/sessions/${s}/events`, {
      event_id: 'py-0',
      event_type: 'user_message',
      content: 0,
    });
    expect(oldest.body.events[0]).toMatchObject({ stored: false });
    const events = await allEvents(s);
    expect(events.map((e) => e.event_id)).toEqual([
      'first',
      ...Array.from({ length: 300 }, (_, i) => `py-${i}`),
    ]);
    expect((await call(sc.url, 'GET', `/v1/sessions/${s}`)).body.event_count).toBe(301);
    const meta = await raw.hgetall(`${P}:meta:${s}`);
    expect(Number(meta.total) - Number(meta.from)).toBe(301); // all indexed by now
  });

  it('are paged exactly beside indexed ones, whatever the page size (a read copies runs of entries)', async () => {
    const s = 'py-runs';
    await sidecarAppends(s, 23);
    // Not indexed until the next write: the newest positions are read from the walk.
    await pythonAppend(
      s,
      Array.from({ length: 9 }, (_, i) => pythonEntry(`py-${i}`, 'agent_response', i)),
    );
    const ids = [
      ...Array.from({ length: 23 }, (_, i) => `sc-${i}`),
      ...Array.from({ length: 9 }, (_, i) => `py-${i}`),
    ];
    for (const limit of [1, 3, 7, 13, 50]) {
      expect((await allEvents(s, limit)).map((e) => e.event_id)).toEqual(ids);
    }
    const turns = await call(sc.url, 'GET', `/v1/sessions/${s}/events?types=agent_response`);
    expect(turns.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(ids.slice(23));
  });

  it('trimmed by Python to its own cap: the index follows, a trimmed id is forgotten', async () => {
    const s = 'py-trim';
    await sidecarAppends(s, 5);
    await pythonAppend(
      s,
      [pythonEntry('py-a', 'agent_response', 'a'), pythonEntry('py-b', 'agent_response', 'b')],
      4,
    );
    expect((await allEvents(s)).map((e) => e.event_id)).toEqual(['sc-3', 'sc-4', 'py-a', 'py-b']);
    expect((await call(sc.url, 'GET', `/v1/sessions/${s}`)).body.event_count).toBe(4);
    const kept = await post(`/v1/sessions/${s}/events`, {
      event_id: 'sc-4',
      event_type: 'user_message',
      content: 4,
    });
    expect(kept.body.events[0]).toMatchObject({ stored: false, seq: 5 });
    expect(await raw.zscore(`${P}:ids:${s}`, 'sc-0')).toBeNull();
  });

  it('counts an event_id stored twice once, as both readers show it', async () => {
    const s = 'py-dup';
    await post(`/v1/sessions/${s}/events`, {
      event_id: 'one',
      event_type: 'user_message',
      content: 1,
    });
    await pythonAppend(s, [
      pythonEntry('twice', 'agent_response', 2),
      pythonEntry('twice', 'agent_response', 2),
      '{not json',
    ]);
    expect((await allEvents(s)).map((e) => e.event_id)).toEqual(['one', 'twice']);
    expect((await call(sc.url, 'GET', `/v1/sessions/${s}`)).body.event_count).toBe(2);
  });
});

describe('event types', () => {
  it('are compared as their JSON tokens, so types that need escaping match exactly', async () => {
    const s = 'types';
    // A decoy: content holding an "event_type" key, which a pattern search could find instead.
    const decoy = { event_type: 'user_message' };
    const types = ['café', 'say "hi"', 'back\\slash', '日本', 'user_message'];
    await post(
      `/v1/sessions/${s}/events`,
      types.map((t) => ({ event_type: t, content: decoy })),
    );
    for (const t of types) {
      const res = await call(
        sc.url,
        'GET',
        `/v1/sessions/${s}/events?types=${encodeURIComponent(t)}`,
      );
      expect(res.status).toBe(200);
      expect(
        res.body.events.map((e: { event_type: string }) => e.event_type),
        t,
      ).toEqual([t]);
    }
    // Written by Python (json.dumps escapes every non-ASCII character), read the same way.
    await pythonAppend(s, [pythonEntry('py-cafe', 'café', decoy)]);
    const res = await call(sc.url, 'GET', `/v1/sessions/${s}/events?types=caf%C3%A9`);
    expect(res.body.events.map((e: { event_id: string }) => e.event_id)).toHaveLength(2);
    expect(res.body.events.at(-1).event_id).toBe('py-cafe');
  });
});

describe('a session Python filled past the walk budget before the sidecar read it', () => {
  it('is read whole at once: the newest events, the context by events and by tokens', async () => {
    expect((await call(sc.url, 'POST', '/v1/sessions', { session_id: 'py-filled' })).status).toBe(
      201,
    );
    // 300 entries: more than one walk's 256, fewer than the cap of 400.
    const entries = Array.from({ length: 300 }, (_, i) =>
      pythonEntry(`py-${i}`, i % 2 ? 'agent_response' : 'user_message', `turn ${i}`),
    );
    await raw.rpush(`${P}:events:py-filled`, ...entries);
    const page = await call(sc.url, 'GET', '/v1/sessions/py-filled/events?limit=3');
    expect((page.body as { events: { event_id: string }[] }).events.map((e) => e.event_id)).toEqual(
      ['py-297', 'py-298', 'py-299'],
    );
    const byEvents = await call(sc.url, 'GET', '/v1/sessions/py-filled/context?max_events=2');
    expect(byEvents.body).toMatchObject({ context: 'User: turn 298\nAssistant: turn 299' });
    const byTokens = await fetch(`${sc.url}/v1/sessions/py-filled/context?max_tokens=4096`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(byTokens.status).toBe(200);
    const body = (await byTokens.json()) as { context: string };
    expect(body.context.endsWith('User: turn 298\nAssistant: turn 299')).toBe(true);
  });
});
