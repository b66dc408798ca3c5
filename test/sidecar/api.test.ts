// Every route, its status codes and error shape, and correctness under concurrency.
import type { Redis } from 'ioredis';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { call, sidecarOpenApi } from '../../harness/http.js';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({
    MEMORY_REDIS_URL: redis.url,
    MEMORY_MAX_SESSION_EVENTS: '10',
    MEMORY_MAX_SESSIONS: '20',
    AGENT_NAME: 'memory-agent',
  });
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

const post = (path: string, body?: unknown) => call(sc.url, 'POST', path, body);
const get = (path: string) => call(sc.url, 'GET', path);

describe('sessions', () => {
  it('creates once: 201, then 200 with the same session', async () => {
    const a = await post('/v1/sessions', { session_id: 'once', user_id: 'alice' });
    const b = await post('/v1/sessions', { session_id: 'once', user_id: 'bob' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({
      agent: 'memory-agent',
      session_id: 'once',
      user_id: 'alice',
      created: false,
      event_count: 0,
    });
  });

  it('gives a generated id in KAOS form when none is sent', async () => {
    const res = await post('/v1/sessions', {});
    expect(res.status).toBe(201);
    expect(res.body.session_id).toMatch(/^session_[0-9a-f]{12}$/);
    expect(res.body).toMatchObject({ user_id: 'user', app_name: 'agent' });
  });

  it('creating one id from 50 concurrent requests gives exactly one 201', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post('/v1/sessions', { session_id: 'race', user_id: `u${i}` }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    const winner = results.find((r) => r.status === 201)!.body.user_id;
    expect(await raw.hget(`${P}:session:race`, 'user_id')).toBe(winner);
  });

  it('reads a session with its event count, 404 when absent', async () => {
    await post('/v1/sessions/counted/events', [
      { event_type: 'user_message', content: 'a' },
      { event_type: 'agent_response', content: 'b' },
    ]);
    expect((await get('/v1/sessions/counted')).body).toMatchObject({
      session_id: 'counted',
      event_count: 2,
    });
    const missing = await get('/v1/sessions/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: { code: 'not_found', message: 'session nope does not exist' },
    });
  });

  it('deletes: 204 then 404, and the keys are gone', async () => {
    await post('/v1/sessions/doomed/events', { event_type: 'user_message', content: 'x' });
    expect((await call(sc.url, 'DELETE', '/v1/sessions/doomed')).status).toBe(204);
    expect((await call(sc.url, 'DELETE', '/v1/sessions/doomed')).status).toBe(404);
    expect(await raw.exists(`${P}:session:doomed`, `${P}:events:doomed`)).toBe(0);
    expect(await raw.zscore(`${P}:sessions`, 'doomed')).toBeNull();
  });

  it('lists newest first through an opaque cursor, filtered by user', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const id of ids)
      await post('/v1/sessions', { session_id: id, user_id: id.endsWith('3') ? 'carol' : 'dave' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/sessions?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.sessions.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.sessions.map((s: any) => s.session_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    const pages = seen.filter((s) => s.startsWith('page-'));
    expect(pages).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);

    const carol = await get('/v1/sessions?user_id=carol');
    expect(carol.body.sessions.map((s: any) => s.session_id)).toEqual(['page-3']);
    expect((await get('/v1/sessions?cursor=garbage')).status).toBe(400);
  });

  it('evicts the oldest sessions past MEMORY_MAX_SESSIONS (20 here)', async () => {
    for (let i = 0; i < 25; i++)
      await post(`/v1/sessions/evict-${i}/events`, { event_type: 'user_message', content: i });
    expect(await raw.zcard(`${P}:sessions`)).toBe(20);
    const kept = await raw.zrange(`${P}:sessions`, '0', '-1');
    expect(kept.slice(-20)).toEqual(Array.from({ length: 20 }, (_, i) => `evict-${i + 5}`));
    expect(await raw.exists(`${P}:session:evict-4`, `${P}:events:evict-4`)).toBe(0);
    expect(await raw.exists(`${P}:session:evict-5`)).toBe(1);
  });
});

describe('events', () => {
  it('keeps the newest MEMORY_MAX_SESSION_EVENTS (10 here)', async () => {
    for (let i = 0; i < 15; i++)
      await post('/v1/sessions/trim/events', { event_type: 'user_message', content: i });
    expect(await raw.llen(`${P}:events:trim`)).toBe(10);
    const res = await get('/v1/sessions/trim/events');
    expect(res.body.events.map((e: any) => e.content)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('returns the most recent N oldest first, and pages back with the cursor', async () => {
    const first = await get('/v1/sessions/trim/events?limit=4');
    expect(first.body.events.map((e: any) => e.content)).toEqual([11, 12, 13, 14]);
    // A new event between pages must not shift the next page.
    await post('/v1/sessions/trim/events', { event_type: 'user_message', content: 15 });
    const second = await get(`/v1/sessions/trim/events?limit=4&cursor=${first.body.next_cursor}`);
    expect(second.body.events.map((e: any) => e.content)).toEqual([7, 8, 9, 10]);
    const third = await get(`/v1/sessions/trim/events?limit=4&cursor=${second.body.next_cursor}`);
    expect(third.body.events.map((e: any) => e.content)).toEqual([6]);
    expect(third.body.next_cursor).toBeNull();
  });

  it('filters by type', async () => {
    await post('/v1/sessions/typed/events', [
      { event_type: 'user_message', content: 'q1' },
      { event_type: 'tool_call', content: { tool: 't' } },
      { event_type: 'agent_response', content: 'a1' },
      { event_type: 'error', content: 'oops' },
      { event_type: 'user_message', content: 'q2' },
    ]);
    const res = await get('/v1/sessions/typed/events?types=user_message,agent_response&limit=2');
    expect(res.body.events.map((e: any) => e.content)).toEqual(['a1', 'q2']);
    const next = await get(
      `/v1/sessions/typed/events?types=user_message,agent_response&limit=2&cursor=${res.body.next_cursor}`,
    );
    expect(next.body.events.map((e: any) => e.content)).toEqual(['q1']);
  });

  it('builds the context as text and as messages', async () => {
    expect((await get('/v1/sessions/typed/context')).body.context).toBe(
      'User: q1\nAssistant: a1\nUser: q2',
    );
    expect(
      (await get('/v1/sessions/typed/context?max_events=2&format=messages')).body.messages,
    ).toEqual([
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q2' },
    ]);
  });

  it('stores an event_id once, under concurrent retries too', async () => {
    const event = { event_id: 'client-1', event_type: 'user_message', content: 'hello' };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post('/v1/sessions/idem/events', event)),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    expect(await raw.llen(`${P}:events:idem`)).toBe(1);
    const batch = await post('/v1/sessions/idem/events', [
      event,
      { ...event, event_id: 'client-2' },
      { ...event, event_id: 'client-2' },
    ]);
    expect(batch.body.events).toEqual([
      { event_id: 'client-1', stored: false, seq: 1 },
      { event_id: 'client-2', stored: true, seq: 2 },
      { event_id: 'client-2', stored: false, seq: 2 },
    ]);
    expect(await raw.llen(`${P}:events:idem`)).toBe(2);
  });

  it('answers the KAOS-shaped routes', async () => {
    const sessions = await get('/memory/sessions');
    expect(sessions.body.agent).toBe('memory-agent');
    expect(sessions.body.sessions).toContain('idem');
    expect(sessions.body.total).toBe(sessions.body.sessions.length);
    const events = await get('/memory/events?limit=3');
    expect(events.body.total).toBe(3);
    expect(events.body.events).toHaveLength(3);
  });
});

describe('service routes', () => {
  it('healthz, readyz, metrics', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await call(sc.url, 'GET', '/metrics');
    expect(metrics.body).toContain(
      'kaos_memory_sidecar_http_requests_total{route="/v1/sessions/{id}/events",method="POST",status="201"}',
    );
    expect(metrics.body).toContain('kaos_memory_sidecar_http_request_duration_seconds_bucket');
    expect(metrics.body).toContain('kaos_memory_sidecar_redis_reconnects_total');
  });

  it('serves the OpenAPI document generated from the route table', async () => {
    const served = await get('/openapi.json');
    expect(served.body).toEqual(sidecarOpenApi());
    expect(Object.keys(served.body.paths)).toEqual([
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/events',
      '/v1/sessions/{id}/context',
      '/v1/sessions/{id}/events/stream',
      '/v1/sessions/{id}/summaries',
      '/v1/sessions/{id}/hold',
      '/memory/events',
      '/memory/sessions',
      '/v1/recall',
      '/v1/list',
      '/v1/write',
      '/v1/forget',
    ]);
  });

  it('the OpenAPI document accepts exactly what the server accepts', async () => {
    const doc = (await get('/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(
      doc.paths['/v1/sessions/{id}/events'].post.requestBody.content['application/json'].schema,
    );
    const bodies: unknown[] = [
      { event_type: 'user_message', content: 'x' },
      { event_type: 'x', content: null, metadata: { a: 1 }, event_id: 'abc' },
      [{ event_type: 'x', content: 1 }],
      [],
      {},
      { event_type: '', content: 1 },
      { event_type: 'x', content: 1, extra: true },
      { event_type: 'x', content: 1, metadata: 'no' },
      { event_type: 'x', content: 1, event_id: 'a:b' },
      { event_type: 7, content: 1 },
      'text',
    ];
    for (const body of bodies) {
      const res = await post('/v1/sessions/openapi/events', body);
      expect([res.status < 300, body]).toEqual([validate(body), body]);
    }
  });

  it('the OpenAPI document describes the create body and the query parameters as checked', async () => {
    const doc = (await get('/openapi.json')).body;
    const ajv = new Ajv2020({ strict: false });
    const createBody = ajv.compile(
      doc.paths['/v1/sessions'].post.requestBody.content['application/json'].schema,
    );
    const bodies: unknown[] = [
      {},
      { session_id: 'made-by-openapi', user_id: 'u', app_name: 'a' },
      { session_id: '' },
      { session_id: 'a b' },
      { user_id: 'tab\there' },
      { user_id: 7 },
      { colour: 'red' },
      [],
    ];
    for (const body of bodies) {
      const res = await post('/v1/sessions', body);
      expect([res.status < 300, body]).toEqual([createBody(body), body]);
    }

    // The query parameters of reading events, as one object of strings.
    const params = doc.paths['/v1/sessions/{id}/events'].get.parameters.filter(
      (p: { in: string }) => p.in === 'query',
    );
    const query = ajv.compile({
      type: 'object',
      properties: Object.fromEntries(params.map((p: any) => [p.name, p.schema])),
    });
    const queries: Record<string, string>[] = [
      {},
      { limit: '5' },
      { limit: 'x' },
      { limit: '1.5' },
      { types: 'user_message,agent_response' },
      { types: 'a'.repeat(5000) },
      { cursor: 'a+b' },
    ];
    await post('/v1/sessions/openapi-q/events', { event_type: 'x', content: 1 });
    for (const q of queries) {
      const res = await get(`/v1/sessions/openapi-q/events?${new URLSearchParams(q).toString()}`);
      expect([res.status < 300, q]).toEqual([query(q), q]);
    }
  });
});
