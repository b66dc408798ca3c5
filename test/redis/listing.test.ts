// Listing sessions on a real Redis: a session whose keys expired is never listed
// (GET /v1/sessions, GET /memory/sessions, the operator CLI) and its index entry is
// pruned on the way, as KAOS's list_sessions does; a session at an infinite index
// score (ZADD accepts one) is listed and paged past; query parameters named like
// Object's members are parameters like any other.
import { PassThrough, Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { closeRedis } from '../../memory/connection.js';
import { openStore, parseInvocation, runCommand, type Invocation } from '../../ops/main.js';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url });
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

/** `kaos-memory sessions list` in this process: its stdout. */
async function cliList(): Promise<string> {
  const inv = parseInvocation(['list', '--prefix', P]) as Invocation;
  const { redis: client, store } = await openStore(inv, { MEMORY_REDIS_URL: redis.url });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  try {
    const status = await runCommand(inv, store, {
      stdin: Readable.from(['']),
      stdout,
      stderr: new PassThrough(),
      progress: undefined,
    });
    expect(status).toBe(0);
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await closeRedis(client);
  }
}

async function listAll(query = 'limit=1'): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '';
  for (let pages = 0; pages < 100; pages++) {
    const page = await call(
      sc.url,
      'GET',
      `/v1/sessions?${query}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    ids.push(...page.body.sessions.map((s: { session_id: string }) => s.session_id));
    if (!page.body.next_cursor) return ids;
    cursor = page.body.next_cursor as string;
  }
  throw new Error('listing did not end');
}

describe('expired sessions', () => {
  it('are never listed, by any route or the CLI, and leave the index', async () => {
    for (const id of ['live-1', 'expiring-1', 'expiring-2', 'live-2']) {
      await call(sc.url, 'POST', `/v1/sessions/${id}/events`, {
        event_type: 'user_message',
        content: id,
      });
    }
    for (const id of ['expiring-1', 'expiring-2']) {
      for (const part of ['session', 'events', 'meta', 'ids', 'types']) {
        await raw.pexpire(`${P}:${part}:${id}`, 20);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await raw.zcard(`${P}:sessions`)).toBe(4); // expiry does not touch the index

    const kaos = await call(sc.url, 'GET', '/memory/sessions');
    expect(kaos.body.sessions).toEqual(['live-1', 'live-2']);
    expect(kaos.body.total).toBe(2);
    expect(await raw.zrange(`${P}:sessions`, '0', '-1')).toEqual(['live-1', 'live-2']);

    await raw.zadd(`${P}:sessions`, Date.now() / 1000, 'expiring-1'); // listed again by a stale writer
    expect(await listAll()).toEqual(['live-2', 'live-1']);
    await raw.zadd(`${P}:sessions`, Date.now() / 1000, 'expiring-2');
    const cli = await cliList();
    expect(cli).not.toMatch(/expiring/);
    expect(cli).toMatch(/live-1/);
    expect(await raw.zrange(`${P}:sessions`, '0', '-1')).toEqual(['live-1', 'live-2']);
  });
});

describe('index scores', () => {
  it('a session at an infinite score is listed, and the cursor past it is taken back', async () => {
    for (const [id, score] of [
      ['forever', 'inf'],
      ['never', '-inf'],
    ] as const) {
      await raw.hset(`${P}:session:${id}`, {
        session_id: id,
        user_id: 'user',
        app_name: 'agent',
        created_at: '2026-02-17T10:00:00.123456+00:00',
        updated_at: '2026-02-17T10:00:00.123456+00:00',
      });
      await raw.zadd(`${P}:sessions`, score, id);
    }
    const ids = await listAll();
    expect(ids[0]).toBe('forever');
    expect(ids.at(-1)).toBe('never');
    expect(new Set(ids)).toEqual(new Set(['forever', 'never', 'live-1', 'live-2']));
    expect((await call(sc.url, 'GET', '/memory/sessions')).body.sessions).toEqual([
      'never',
      'live-1',
      'live-2',
      'forever',
    ]);
  });
});

describe('query parameters named like Object members', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    '%s is ignored like any unknown parameter',
    async (name) => {
      const sessions = await call(sc.url, 'GET', `/v1/sessions?${name}=1&limit=2`);
      expect(sessions.status).toBe(200);
      expect(sessions.body.sessions).toHaveLength(2);
      const events = await call(sc.url, 'GET', `/v1/sessions/live-1/events?${name}=x`);
      expect(events.status).toBe(200);
      expect(events.body.events).toHaveLength(1);
      const twice = await call(sc.url, 'GET', `/v1/sessions?${name}=1&${name}=2`);
      expect(twice.status).toBe(400);
      expect(twice.body.error.message).toBe(`query parameter ${name} is given more than once`);
    },
  );
});
