// Hostile data, sent or planted: the sidecar process never dies, never answers
// with a state it did not store, and every session stays readable. The sidecar
// runs as its own process, so a crash is a failed test, not a lost log line.
import { isUtf8 } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { call, send } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess } from '../../harness/sidecar.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const READ_BYTES = 64 * 1024;

let redis: RedisServer;
let raw: Redis;
let sc: SidecarProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await SidecarProcess.start(
    {
      MEMORY_REDIS_URL: redis.url,
      MEMORY_MAX_READ_BYTES: String(READ_BYTES),
      MEMORY_MAX_SESSION_EVENTS: '50',
    },
    { ready: '/readyz' },
  );
});
afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

const key = (kind: 'session' | 'events', id: string) => `${sc.prefix}:${kind}:${id}`;
const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels);
const entry = (id: string, content: string) =>
  `{"event_id": "${id}", "timestamp": "2026-11-30T10:00:00.000000+00:00", "event_type": "user_message", "content": ${content}, "metadata": {}}`;

/** The process is alive and answers. */
async function alive(): Promise<void> {
  expect(sc.proc.running).toBe(true);
  expect((await call(sc.url, 'GET', '/healthz')).status).toBe(200);
}

async function metric(name: string): Promise<number> {
  const text = (await call(sc.url, 'GET', '/metrics')).text;
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('hostile input, sent', () => {
  it('content nested 5,000 levels deep: 400 naming the field, nothing stored', async () => {
    const body = `{"event_type": "user_message", "content": ${nested(5_000)}}`;
    const res = await send(sc.url, 'POST', '/v1/sessions/deep/events', body, JSON_TYPE);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('body.content: nests deeper than 100 levels');
    expect(await raw.exists(key('events', 'deep'), key('session', 'deep'))).toBe(0);
    await alive();
  });

  it('metadata nested too deeply, in a batch: 400 naming which event', async () => {
    const body = `[{"event_type": "a", "content": 1}, {"event_type": "b", "content": 2, "metadata": {"x": ${nested(200)}}}]`;
    const res = await send(sc.url, 'POST', '/v1/sessions/deep/events', body, JSON_TYPE);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('body[1].metadata: nests deeper than 100 levels');
    await alive();
  });

  it('nesting at the limit is stored and reads back through every route', async () => {
    const content = nested(100, '"bottom"');
    const res = await send(
      sc.url,
      'POST',
      '/v1/sessions/at-limit/events',
      `{"event_type": "user_message", "content": ${content}}`,
      JSON_TYPE,
    );
    expect(res.status).toBe(201);
    const events = await call(sc.url, 'GET', '/v1/sessions/at-limit/events');
    expect(JSON.stringify(events.body.events[0].content)).toBe(content);
    for (const path of [
      '/v1/sessions/at-limit/events?types=user_message',
      '/v1/sessions/at-limit/context',
      '/v1/sessions/at-limit/context?format=messages',
      '/memory/events?session_id=at-limit',
      '/memory/events',
    ]) {
      expect((await call(sc.url, 'GET', path)).status, path).toBe(200);
    }
    await alive();
  });

  it.each([
    ['1e400', 'body.content'],
    ['-1e400', 'body.content'],
    ['{"a": [1, 2e308]}', 'body.content.a[1]'],
  ])('%s is a 400 naming %s, not a 500', async (content, where) => {
    const res = await send(
      sc.url,
      'POST',
      '/v1/sessions/numbers/events',
      `{"event_type": "user_message", "content": ${content}}`,
      JSON_TYPE,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(`${where}: must be a finite number`);
    expect(await raw.exists(key('events', 'numbers'))).toBe(0);
  });

  it('lone surrogates and other odd strings are stored escaped and read back as sent', async () => {
    const content = '\ud800 lone high, \udfff lone low, \u0000 nul, 😀 emoji, \u2028 separator';
    const res = await call(sc.url, 'POST', '/v1/sessions/strings/events', {
      event_type: 'user_message',
      content,
    });
    expect(res.status).toBe(201);
    const stored = await raw.lrange(key('events', 'strings'), 0, -1);
    expect(stored[0]).toContain('\\ud800 lone high, \\udfff lone low, \\u0000 nul');
    expect(/^[\x20-\x7e]*$/.test(stored[0] ?? '')).toBe(true); // Python's ensure_ascii form
    const back = await call(sc.url, 'GET', '/v1/sessions/strings/events');
    expect(back.body.events[0].content).toBe(content);
  });

  it('a batch larger than the session keeps is refused whole, with the reason', async () => {
    const batch = Array.from({ length: 51 }, (_, i) => ({ event_type: 'x', content: i }));
    const res = await call(sc.url, 'POST', '/v1/sessions/big-batch/events', batch);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/51 events, more than the 50 a session keeps/);
    expect(await raw.exists(key('events', 'big-batch'), key('session', 'big-batch'))).toBe(0);
  });

  it('a page in a browser in the pod cannot write (CSRF) or read through another Host name (DNS rebinding)', async () => {
    const event = JSON.stringify({ event_type: 'user_message', content: 'planted' });
    // A form or a fetch without preflight: text/plain, or no type at all.
    for (const type of [{ 'content-type': 'text/plain' }, {}] as Record<string, string>[]) {
      const res = await send(sc.url, 'POST', '/v1/sessions/csrf/events', event, type);
      expect(res.status).toBe(415);
    }
    const rebound = await send(sc.url, 'GET', '/v1/sessions', undefined, {
      host: 'attacker.example:8790',
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body.error.code).toBe('forbidden_host');
    const write = await send(sc.url, 'POST', '/v1/sessions/csrf/events', event, {
      ...JSON_TYPE,
      host: 'attacker.example',
    });
    expect(write.status).toBe(403);
    expect(await raw.exists(key('events', 'csrf'))).toBe(0);
  });
});

describe('hostile data, planted in the shared layout by another writer', () => {
  it('answers stored bytes that are not UTF-8 as the text they decode to, and UTF-8 as stored', async () => {
    const id = 'bytes';
    const utf8 = Buffer.from(entry('utf8', '"caf\u00e9 \u2603"'), 'utf8'); // not ensure_ascii
    const latin1 = Buffer.from(entry('latin1', '"caf\u00e9"'), 'latin1'); // a lone 0xE9
    await raw.rpush(key('events', id), utf8, latin1);
    await raw.hset(key('session', id), 'session_id', id, 'user_id', 'u', 'app_name', 'a');
    const res = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
    const bytes = res.bytes;
    expect(res.status).toBe(200);
    expect(isUtf8(bytes)).toBe(true);
    expect(bytes.includes(utf8)).toBe(true);
    const events = res.body.events as { content: string }[];
    expect(events.map((e) => e.content)).toEqual(['caf\u00e9 \u2603', 'caf\ufffd']);
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
  });

  it('skips every entry it cannot decode or encode (deep, not JSON, not an event, too big), counts them, and serves the rest', async () => {
    const id = 'planted';
    const valid = (n: number) => entry(`ok-${n}`, `"message ${n}"`);
    await raw.rpush(
      key('events', id),
      valid(1),
      entry('deep', nested(5_000)), // the crash loop of old: JSON.stringify threw on read
      'not json {',
      '[1, 2, 3]',
      '{"event_id": "partial"}',
      entry('huge-number', '1e400'), // JSON.parse reads Infinity; still encodable (null)
      entry('too-big', `"${'x'.repeat(READ_BYTES + 1)}"`),
      valid(2),
    );
    await raw.hset(key('session', id), 'session_id', id, 'user_id', 'u', 'app_name', 'a');
    const skippedBefore = await metric('kaos_memory_sidecar_entries_skipped_total');

    const ids = (events: { event_id: string }[]) => events.map((e) => e.event_id);
    const events = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
    expect(events.status).toBe(200);
    expect(ids(events.body.events)).toEqual(['ok-1', 'huge-number', 'ok-2']);
    for (const path of [
      `/v1/sessions/${id}/events?types=user_message`,
      `/v1/sessions/${id}/events?limit=1`,
      `/v1/sessions/${id}/context`,
      `/v1/sessions/${id}/context?format=messages`,
      `/memory/events?session_id=${id}`,
      '/memory/events',
      `/v1/sessions/${id}`,
      '/v1/sessions',
    ]) {
      expect((await call(sc.url, 'GET', path)).status, path).toBe(200);
    }
    // Paging back one event at a time visits every readable event once.
    const paged: string[] = [];
    let cursor = '';
    for (let i = 0; i < 20; i++) {
      const page = await call(
        sc.url,
        'GET',
        `/v1/sessions/${id}/events?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.unshift(...ids(page.body.events));
      if (!page.body.next_cursor) break;
      cursor = page.body.next_cursor;
    }
    expect(paged).toEqual(['ok-1', 'huge-number', 'ok-2']);
    expect(await metric('kaos_memory_sidecar_entries_skipped_total')).toBeGreaterThan(
      skippedBefore,
    );
    await alive();

    // A restart reads the same session without dying: no crash loop.
    await sc.close();
    await sc.spawn();
    expect(ids((await call(sc.url, 'GET', `/v1/sessions/${id}/events`)).body.events)).toEqual([
      'ok-1',
      'huge-number',
      'ok-2',
    ]);
    await alive();
  });

  it.each([
    ['session', 'a string', (k: string) => raw.set(k, 'planted')],
    ['events', 'a hash', (k: string) => raw.hset(k, 'f', 'v')],
  ] as const)(
    'a %s key holding %s: writes answer 409 and leave nothing behind',
    async (kind, _what, plant) => {
      const id = `wrong-${kind}`;
      await plant(key(kind, id));
      const before = await raw.keys(`${sc.prefix}:*${id}*`);
      const ttlBefore = await raw.pttl(key(kind, id));
      const append = await call(sc.url, 'POST', `/v1/sessions/${id}/events`, {
        event_type: 'user_message',
        content: 'x',
      });
      expect(append.status).toBe(409);
      expect(append.body.error.code).toBe('layout_conflict');
      const create = await call(sc.url, 'POST', '/v1/sessions', { session_id: id });
      expect(create.status).toBe(409);
      // Nothing written: no other key, no TTL set, the index untouched.
      expect(await raw.keys(`${sc.prefix}:*${id}*`)).toEqual(before);
      expect(await raw.pttl(key(kind, id))).toBe(ttlBefore);
      expect(await raw.zscore(`${sc.prefix}:sessions`, id)).toBeNull();
      await alive();
    },
  );

  it('an index of the wrong type: listing answers 409, the process lives on', async () => {
    const other = await SidecarProcess.start(
      { MEMORY_REDIS_URL: redis.url, MEMORY_KEY_PREFIX: `${sc.prefix}-idx` },
      { ready: '/readyz' },
    );
    try {
      await raw.set(`${other.prefix}:sessions`, 'not a sorted set');
      expect((await call(other.url, 'GET', '/v1/sessions')).status).toBe(409);
      expect((await call(other.url, 'GET', '/memory/sessions')).status).toBe(409);
      const write = await call(other.url, 'POST', '/v1/sessions/s/events', {
        event_type: 'x',
        content: 1,
      });
      expect(write.status).toBe(409);
      expect(await raw.exists(`${other.prefix}:session:s`, `${other.prefix}:events:s`)).toBe(0);
      expect(other.proc.running).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe('HTTP pipelining', () => {
  /** Sends `requests` in one write on one connection; the statuses and bodies, in order. */
  async function pipelined(requests: string[]): Promise<{ statuses: number[]; text: string }> {
    const { Socket } = await import('node:net');
    const port = Number(new URL(sc.url).port);
    const closing = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const text = await new Promise<string>((resolve, reject) => {
      const socket = new Socket();
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
      socket.connect(port, '127.0.0.1', () => socket.write([...requests, closing].join('')));
    });
    // Each answer follows the previous body directly: no line break to anchor on.
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    return { statuses: statuses.slice(0, -1), text };
  }

  const post = (id: string, size: number) => {
    const body = JSON.stringify({ event_type: 'user_message', content: 'x'.repeat(size) });
    return `POST /v1/sessions/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  const get = (id: string) => `GET /v1/sessions/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const del = (id: string) => `DELETE /v1/sessions/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const eventCounts = (text: string) =>
    [...text.matchAll(/"events":\[(.*?)\],"next_cursor"/g)].map(
      (m) => (m[1]?.match(/"event_id"/g) ?? []).length,
    );

  it.each([10, 50_000])(
    'requests pipelined on one connection take effect in the order they were sent (bodies of %i bytes)',
    async (size) => {
      const id = `piped-${size}`;
      // write, read, delete, write, read: each must see the one before it.
      const { statuses, text } = await pipelined([
        post(id, size),
        get(id),
        del(id),
        post(id, size),
        get(id),
      ]);
      expect(statuses).toEqual([201, 200, 204, 201, 200]);
      expect(eventCounts(text)).toEqual([1, 1]);
      expect(await raw.llen(key('events', id))).toBe(1);
    },
  );
});
