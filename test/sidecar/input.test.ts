// Bad input gets a clear 4xx and writes nothing; a fuzzer finds no 5xx and no crash.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { call, send as rawSend } from '../../harness/http.js';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_BODY_LIMIT_BYTES: '65536' });
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

/** A raw request (node:http), so the fuzzer can send what fetch would refuse to. */
const send = (
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) => rawSend(sc.url, method, path, body, headers);

const json = { 'content-type': 'application/json' };

describe('bad input', () => {
  it.each([
    ['{"event_type": "x", "content": ', /malformed JSON/],
    ['{"event_type": 5, "content": 1}', /body\.event_type: /],
    ['{"event_type": "x"}', /body\.content: is required/],
    ['{"event_type": "x", "content": 1, "sneaky": true}', /sneaky/],
    ['{"event_type": "x", "content": 1, "metadata": [1]}', /body\.metadata/],
    ['{"event_type": "x", "content": 1, "event_id": "a b"}', /body\.event_id/],
    ['[]', /at least one event/],
    ['"just a string"', /body/],
    ['null', /body/],
  ])('%s → 400 saying what was wrong', async (body, message) => {
    const res = await send('POST', '/v1/sessions/bad/events', body, json);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    expect(res.body.error.message).toMatch(message);
  });

  it.each([
    '%2A',
    'a%3Ab',
    'a%20b',
    'tab%09',
    'ctl%01',
    '%E2%9C%93',
    'x'.repeat(257),
    '%ZZ',
    'a%2Fb',
  ])('session id %s → 400', async (id) => {
    const res = await send('GET', `/v1/sessions/${id}/events`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/session id|percent-encoding/);
  });

  it('a body over the limit → 413, declared or streamed', async () => {
    const big = JSON.stringify({ event_type: 'x', content: 'y'.repeat(70_000) });
    const declared = await send('POST', '/v1/sessions/big/events', big, json);
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('payload_too_large');
    const streamed = await send('POST', '/v1/sessions/big/events', big, {
      ...json,
      'transfer-encoding': 'chunked',
    });
    expect(streamed.status).toBe(413);
  });

  it('a non-JSON content type → 415; bad query → 400; unknown route → 404; wrong method → 405', async () => {
    expect(
      (
        await send('POST', '/v1/sessions/x/events', 'a=b', {
          'content-type': 'application/x-www-form-urlencoded',
        })
      ).status,
    ).toBe(415);
    expect((await send('GET', '/v1/sessions?limit=0')).status).toBe(400);
    expect((await send('GET', '/v1/sessions?limit=abc')).status).toBe(400);
    expect((await send('GET', '/v1/sessions/x/events?types=')).status).toBe(400);
    expect((await send('GET', '/v1/sessions/x/context?format=xml')).status).toBe(400);
    expect((await send('GET', '/v2/nothing')).status).toBe(404);
    const wrong = await send('PUT', '/v1/sessions/x');
    expect(wrong.status).toBe(405);
  });

  it('wrote nothing for any of the above', async () => {
    expect(await raw.keys('*')).toEqual([]);
  });
});

describe('fuzz', () => {
  // A small deterministic PRNG so a failure can be replayed from its seed.
  function rng(seed: number) {
    return () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
  }

  it('1,200 random bodies and paths: no 5xx, no crash, Redis untouched by rejected requests', async () => {
    const rand = rng(20_261_124);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const junk = () => {
      const n = Math.floor(rand() * 40);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rand() * 0x2fff));
      return s;
    };
    const values = () =>
      pick<unknown>([null, true, 1.5, -1, 'x', junk(), [], {}, [1, 'a'], { a: { b: [] } }, 1e308]);
    const bodies = () =>
      pick<string>([
        junk(),
        JSON.stringify(values()),
        JSON.stringify({ event_type: values(), content: values() }),
        JSON.stringify({ event_type: 'user_message', content: values(), metadata: values() }),
        JSON.stringify({ event_type: 'user_message', content: 'ok', event_id: junk() }),
        JSON.stringify([{ event_type: junk(), content: 1 }]),
        JSON.stringify({ session_id: values(), user_id: values(), app_name: values() }),
        '{"a":'.repeat(50),
        '[' + '1,'.repeat(100) + ']',
      ]);
    const ids = () =>
      pick([
        'ok-session',
        encodeURIComponent(junk()),
        '*',
        '..',
        '%00',
        'a:b',
        'x'.repeat(300),
        '%',
      ]);
    const paths = () =>
      pick([
        `/v1/sessions/${ids()}/events`,
        `/v1/sessions/${ids()}`,
        '/v1/sessions',
        `/v1/sessions?limit=${encodeURIComponent(junk())}&cursor=${encodeURIComponent(junk())}`,
        `/v1/sessions/${ids()}/events?types=${encodeURIComponent(junk())}&limit=${Math.floor(rand() * 3000) - 5}`,
        `/v1/sessions/${ids()}/context?max_events=${encodeURIComponent(junk())}`,
        `/memory/events?session_id=${encodeURIComponent(junk())}`,
        `/${encodeURIComponent(junk())}`,
      ]);

    const written = new Set<string>();
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1200; i++) {
      const method = pick(['POST', 'POST', 'GET', 'DELETE', 'PUT']);
      const path = paths();
      const res = await send(
        method,
        path,
        method === 'POST' || method === 'PUT' ? bodies() : undefined,
        json,
      );
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      if (res.status < 300 && method === 'POST') {
        const m = /^\/v1\/sessions\/([^/?]+)/.exec(path);
        written.add(m ? decodeURIComponent(m[1]!) : String(res.body.session_id));
      }
    }
    expect((await call(sc.url, 'GET', '/healthz')).status).toBe(200);
    // Only sessions that got a 2xx write may exist.
    const allowed = new Set([`${sc.prefix}:sessions`]);
    for (const id of written) {
      allowed.add(`${sc.prefix}:session:${id}`);
      allowed.add(`${sc.prefix}:events:${id}`);
    }
    const keys = await raw.keys('*');
    expect(keys.filter((k) => !allowed.has(k))).toEqual([]);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(300);
  });
});
