// The KAOS RedisMemory layout, to the byte: raw Redis after API writes, and
// data in Python's own form (printed by python3's json module) read back.
import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { call } from '../../harness/http.js';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_SESSION_TTL_SECONDS: '3600' });
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

/** Runs Python with the given program, feeding it JSON on stdin; returns its JSON output. */
function python(program: string, input: unknown): any {
  const out = execFileSync('python3', ['-c', program], {
    input: JSON.stringify(input),
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;

describe('writes through the API, read raw', () => {
  it('stores the session hash, events list and index exactly as KAOS does', async () => {
    const created = await call(sc.url, 'POST', '/v1/sessions', {
      session_id: 's1',
      user_id: 'u1',
      app_name: 'my-app',
    });
    expect(created.status).toBe(201);
    const appended = await call(sc.url, 'POST', '/v1/sessions/s1/events', [
      {
        event_type: 'user_message',
        content: 'Grüße 👋',
        metadata: { trace_id: 'abc', span_id: 'def' },
      },
      { event_type: 'tool_call', content: { tool: 'search', arguments: { q: 'x' } } },
    ]);
    expect(appended.status).toBe(201);

    expect(await raw.type(`${P}:session:s1`)).toBe('hash');
    expect(await raw.type(`${P}:events:s1`)).toBe('list');
    expect(await raw.type(`${P}:sessions`)).toBe('zset');

    const hash = await raw.hgetall(`${P}:session:s1`);
    expect(Object.keys(hash).sort()).toEqual([
      'app_name',
      'created_at',
      'session_id',
      'updated_at',
      'user_id',
    ]);
    expect(hash).toMatchObject({ session_id: 's1', user_id: 'u1', app_name: 'my-app' });
    expect(hash.created_at).toMatch(ISO);
    expect(hash.updated_at).toMatch(ISO);
    expect(hash.updated_at! >= hash.created_at!).toBe(true);

    const entries = await raw.lrange(`${P}:events:s1`, 0, -1);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatch(
      /^\{"event_id": "event_[0-9a-f]{8}", "timestamp": "[^"]+", "event_type": "user_message", "content": "Gr\\u00fc\\u00dfe \\ud83d\\udc4b", "metadata": \{"trace_id": "abc", "span_id": "def", "seq": 1\}\}$/,
    );
    expect(entries[1]).toContain(
      '"content": {"tool": "search", "arguments": {"q": "x"}}, "metadata": {"seq": 2}}',
    );

    const [member, score] = await raw.zrange(`${P}:sessions`, '0', '-1', 'WITHSCORES');
    expect(member).toBe('s1');
    expect(Number(score)).toBeCloseTo(Date.parse(hash.updated_at!) / 1000, 2);

    const ttlSession = await raw.ttl(`${P}:session:s1`);
    const ttlEvents = await raw.ttl(`${P}:events:s1`);
    expect(ttlSession).toBeGreaterThan(3500);
    expect(ttlSession).toBeLessThanOrEqual(3600);
    expect(ttlEvents).toBeGreaterThan(3500);
  });

  it('writes entries Python re-serialises to the same bytes, and KAOS can load', async () => {
    const entries = await raw.lrange(`${P}:events:s1`, 0, -1);
    const hash = await raw.hgetall(`${P}:session:s1`);
    // What KAOS's MemoryEvent.from_dict and get_session do with them.
    const result = python(
      `import json, sys
from datetime import datetime
data = json.load(sys.stdin)
out = []
for item in data["entries"]:
    d = json.loads(item)
    datetime.fromisoformat(d["timestamp"])
    out.append({"same_bytes": json.dumps(d) == item, "keys": list(d.keys())})
for f in ("created_at", "updated_at"):
    datetime.fromisoformat(data["hash"][f])
print(json.dumps(out))`,
      { entries, hash },
    );
    for (const r of result) {
      expect(r.same_bytes).toBe(true);
      expect(r.keys).toEqual(['event_id', 'timestamp', 'event_type', 'content', 'metadata']);
    }
  });

  it('slides the TTL on every write', async () => {
    await raw.expire(`${P}:session:s1`, 100);
    await raw.expire(`${P}:events:s1`, 100);
    await call(sc.url, 'POST', '/v1/sessions/s1/events', {
      event_type: 'agent_response',
      content: 'ok',
    });
    expect(await raw.ttl(`${P}:session:s1`)).toBeGreaterThan(3500);
    expect(await raw.ttl(`${P}:events:s1`)).toBeGreaterThan(3500);
  });
});

describe('data written by KAOS (Python) read through the API', () => {
  it('reads events in json.dumps form, skipping malformed entries and repeated event ids', async () => {
    // Python writes exactly as RedisMemory.add_event does: json.dumps(event.to_dict()).
    const written = python(
      `import json, sys
from datetime import datetime, timezone
def ev(i, t, c, m):
    return json.dumps({"event_id": i, "timestamp": datetime(2026, 2, 17, 10, 0, 0, 123456, tzinfo=timezone.utc).isoformat(),
                       "event_type": t, "content": c, "metadata": m})
print(json.dumps({
  "entries": [
    ev("event_aaaa0001", "user_message", "Café ☕ — what's 2+2?", {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}),
    ev("event_aaaa0002", "tool_call", {"tool": "calculator", "arguments": {"expr": "2+2"}}, {}),
    "{not json at all",
    ev("event_aaaa0003", "tool_result", {"tool": "calculator", "result": 4}, {}),
    ev("event_aaaa0002", "tool_call", {"tool": "calculator", "arguments": {"expr": "dup"}}, {}),
    ev("event_aaaa0004", "agent_response", "4", {}),
    ev("event_aaaa0005", "delegation_request", {"tool": "delegate_to_math", "arguments": {}}, {}),
    ev("event_aaaa0006", "custom_kind", [1, 2.5, None, True], {"k": "v"}),
  ],
  "created": datetime(2026, 2, 17, 10, 0, 0, 123456, tzinfo=timezone.utc).isoformat(),
  "score": datetime(2026, 2, 17, 10, 0, 0, 123456, tzinfo=timezone.utc).timestamp(),
}))`,
      null,
    );
    expect(written.entries[0]).toContain('"Caf\\u00e9 \\u2615 \\u2014 what\'s 2+2?"');
    await raw.hset(`${P}:session:py1`, {
      session_id: 'py1',
      user_id: 'user',
      app_name: 'agent',
      created_at: written.created,
      updated_at: written.created,
    });
    await raw.rpush(`${P}:events:py1`, ...written.entries);
    await raw.zadd(`${P}:sessions`, written.score, 'py1');

    const res = await call(sc.url, 'GET', '/v1/sessions/py1/events');
    expect(res.status).toBe(200);
    const ids = res.body.events.map((e: any) => e.event_id);
    expect(ids).toEqual([
      'event_aaaa0001',
      'event_aaaa0002',
      'event_aaaa0003',
      'event_aaaa0004',
      'event_aaaa0005',
      'event_aaaa0006',
    ]);
    expect(res.body.events[0]).toEqual({
      event_id: 'event_aaaa0001',
      timestamp: '2026-02-17T10:00:00.123456+00:00',
      event_type: 'user_message',
      content: "Café ☕ — what's 2+2?",
      metadata: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' },
    });
    expect(res.body.events[1].content).toEqual({ tool: 'calculator', arguments: { expr: '2+2' } });
    expect(res.body.events[5]).toMatchObject({
      event_type: 'custom_kind',
      content: [1, 2.5, null, true],
    });

    const ctx = await call(sc.url, 'GET', '/v1/sessions/py1/context');
    expect(ctx.body.context).toBe("User: Café ☕ — what's 2+2?\nAssistant: 4");

    const session = await call(sc.url, 'GET', '/v1/sessions/py1');
    expect(session.body).toMatchObject({
      session_id: 'py1',
      created_at: '2026-02-17T10:00:00.123456+00:00',
      // What both readers show: the malformed entry left out, the repeated event_id once.
      event_count: 6,
    });

    const kaos = await call(sc.url, 'GET', '/memory/events?session_id=py1&limit=2');
    expect(kaos.body).toEqual({ agent: 'agent', events: res.body.events.slice(-2), total: 2 });
  });

  it('does not store again an event_id that Python already stored', async () => {
    const res = await call(sc.url, 'POST', '/v1/sessions/py1/events', {
      event_id: 'event_aaaa0004',
      event_type: 'agent_response',
      content: '4',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 0, duplicates: 1 });
    // Python assigns no sequence number.
    expect(res.body.events).toEqual([{ event_id: 'event_aaaa0004', stored: false, seq: null }]);
    expect(await raw.llen(`${P}:events:py1`)).toBe(8);
  });

  it('refuses an event_id Python stored with other content, storing nothing of the batch', async () => {
    const res = await call(sc.url, 'POST', '/v1/sessions/py1/events', [
      { event_type: 'user_message', content: 'new' },
      { event_id: 'event_aaaa0004', event_type: 'agent_response', content: 'not what was said' },
    ]);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('event_id_conflict');
    expect(res.body.error.message).toMatch(/event_aaaa0004/);
    expect(await raw.llen(`${P}:events:py1`)).toBe(8);
  });
});
