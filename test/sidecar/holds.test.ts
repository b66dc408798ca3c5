// Legal holds and idle-close through HTTP on a real Redis: a held session outlives its
// TTL, the session cap and erasure by user, cannot be deleted, and once released takes
// the TTL again and expires; an idle session gets one session_closed event per idle spell.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';

let redis: RedisServer;
let client: Redis;
let sc: RunningSidecar;

const api = (method: string, path: string, body?: unknown) => call(sc.url, method, path, body);
const ttlOf = (id: string) => client.pttl(`${sc.prefix}:events:${id}`);

async function session(id: string, user = 'alice'): Promise<void> {
  expect((await api('POST', '/v1/sessions', { session_id: id, user_id: user })).status).toBe(201);
  const res = await api('POST', `/v1/sessions/${id}/events`, [
    { event_type: 'user_message', content: `hello from ${id}` },
  ]);
  expect(res.status).toBe(201);
}

beforeAll(async () => {
  redis = await RedisServer.start();
  client = redis.client();
  sc = await startSidecar({
    MEMORY_REDIS_URL: redis.url,
    MEMORY_SESSION_TTL_SECONDS: '3',
    MEMORY_MAX_SESSIONS: '3',
  });
});

afterAll(async () => {
  await sc?.close();
  client?.disconnect();
  await redis?.stop();
});

describe('legal hold', () => {
  it('keeps a session through TTL expiry, the session cap, erasure by user and delete', async () => {
    await session('held');
    await session('free');
    const hold = await api('PUT', '/v1/sessions/held/hold', { reason: 'case 4711' });
    expect(hold.status).toBe(200);
    expect(hold.body).toMatchObject({ session_id: 'held', held: true, reason: 'case 4711' });
    expect(await ttlOf('held')).toBe(-1);
    expect(await ttlOf('free')).toBeGreaterThan(0);

    // TTL: the free session's keys expire, the held one's stay.
    await pollUntil('the unheld session to expire', async () => (await ttlOf('free')) === -2, {
      timeoutMs: 20_000,
    });
    expect((await api('GET', '/v1/sessions/held')).status).toBe(200);

    // The cap of 3 sessions: five newer ones would evict it were it not held.
    for (let i = 0; i < 5; i++) await session(`newer-${i}`, 'bob');
    expect((await api('GET', '/v1/sessions/held')).status).toBe(200);

    // Erasure by user keeps it and says so; delete is refused.
    const erased = await api('DELETE', '/v1/sessions?user_id=alice');
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ held: 1, complete: true });
    const deleted = await api('DELETE', '/v1/sessions/held');
    expect(deleted.status).toBe(409);
    expect(deleted.body).toMatchObject({ error: { code: 'session_held' } });
    const events = await api('GET', '/v1/sessions/held/events');
    expect((events.body as { events: unknown[] }).events).toHaveLength(1);

    // Released: the TTL is back and the session expires like any other.
    const released = await api('DELETE', '/v1/sessions/held/hold');
    expect(released.body).toMatchObject({ held: false, released: true });
    expect(await ttlOf('held')).toBeGreaterThan(0);
    await pollUntil('the released session to expire', async () => (await ttlOf('held')) === -2, {
      timeoutMs: 20_000,
    });
    expect((await api('GET', '/v1/sessions/held')).status).toBe(404);
    expect((await api('DELETE', '/v1/sessions/held/hold')).body).toMatchObject({ released: false });
  }, 60_000);

  it('answers 404 for an absent session and 400 for a hold without a reason', async () => {
    expect((await api('PUT', '/v1/sessions/nobody/hold', { reason: 'x' })).status).toBe(404);
    await session('reasonless');
    const bad = await api('PUT', '/v1/sessions/reasonless/hold', { reason: '' });
    expect(bad.status).toBe(400);
    expect((await api('PUT', '/v1/sessions/reasonless/hold', {})).status).toBe(400);
  });
});

describe('idle close', () => {
  let idle: RunningSidecar;
  const closes = async (id: string) => {
    const res = await call(idle.url, 'GET', `/v1/sessions/${id}/events`);
    return (res.body as { events: { event_type: string }[] }).events.filter(
      (e) => e.event_type === 'session_closed',
    ).length;
  };

  beforeAll(async () => {
    idle = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_IDLE_CLOSE_SECONDS: '1' });
  });
  afterAll(async () => {
    await idle?.close();
  });

  it('appends one session_closed event per idle spell', async () => {
    const post = (body: unknown) => call(idle.url, 'POST', '/v1/sessions/chat/events', body);
    expect((await post([{ event_type: 'user_message', content: 'hi' }])).status).toBe(201);
    await pollUntil('the session to be closed', async () => (await closes('chat')) === 1, {
      timeoutMs: 15_000,
    });
    // A write opens it again; the next idle spell closes it once more, and only once.
    expect((await post([{ event_type: 'user_message', content: 'again' }])).status).toBe(201);
    await pollUntil('the second close', async () => (await closes('chat')) >= 2, {
      timeoutMs: 15_000,
    });
    const res = await call(idle.url, 'GET', '/v1/sessions/chat/events');
    const types = (res.body as { events: { event_type: string }[] }).events.map(
      (e) => e.event_type,
    );
    expect(types).toEqual(['user_message', 'session_closed', 'user_message', 'session_closed']);
  }, 40_000);
});
