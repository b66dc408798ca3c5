// Erasure by user on a real Redis: complete while the user's sessions are being
// appended to (the walk is ZSCAN, whose guarantee does not depend on scores), and
// an erased session written to again comes back under the user it was erased for,
// never under another owner.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { MemoryAdmin } from '../../memory/admin.js';

let redis: RedisServer;
let raw: Redis;
let bumper: Redis;
let sc: RunningSidecar & { sidecar: { store: import('../../memory/store.js').MemoryStore } };
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  bumper = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url });
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  bumper?.disconnect();
  await redis?.stop();
});

/** An append as another writer makes it (KAOS's RedisMemory checks the session exists first). */
const APPEND_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 1`;

describe('DELETE /v1/sessions?user_id=', () => {
  it('erases every session of the user while they are appended to, oldest first', async () => {
    const ids = Array.from({ length: 600 }, (_, i) => `u-${String(i).padStart(3, '0')}`);
    const other = Array.from({ length: 20 }, (_, i) => `o-${i}`);
    for (const id of [...ids, ...other]) {
      await sc.sidecar.store.createSession(id, {
        userId: id.startsWith('u-') ? 'erin' : 'oscar',
        appName: 'a',
      });
    }
    // Appends to the oldest sessions first, moving each to the top of the index while
    // the erasure walks it: a walk by score would pass over them.
    let running = true;
    let bumps = 0;
    const bumping = (async () => {
      for (let round = 0; running; round++) {
        for (const id of ids.slice(0, 300)) {
          if (!running) break;
          bumps += Number(
            await bumper.eval(
              APPEND_IF_EXISTS,
              3,
              `${P}:session:${id}`,
              `${P}:events:${id}`,
              `${P}:sessions`,
              `{"event_id": "b-${round}", "timestamp": "t", "event_type": "x", "content": 1, "metadata": {}}`,
              Date.now() / 1000 + round,
              id,
            ),
          );
        }
      }
    })();
    const res = await call(sc.url, 'DELETE', '/v1/sessions?user_id=erin');
    running = false;
    await bumping;
    expect(bumps).toBeGreaterThan(0);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: 600, held: 0, complete: true });
    const left = await raw.zrange(`${P}:sessions`, '0', '-1');
    expect(left.sort()).toEqual([...other].sort());
    for (const id of ids.slice(0, 300)) {
      expect(await raw.exists(`${P}:session:${id}`, `${P}:events:${id}`, `${P}:meta:${id}`)).toBe(
        0,
      );
    }
  }, 120_000);

  it('an erased session written to again comes back under the user it was erased for', async () => {
    await call(sc.url, 'POST', '/v1/sessions', {
      session_id: 'gone',
      user_id: 'alice',
      app_name: 'chat',
    });
    await call(sc.url, 'POST', '/v1/sessions/gone/events', {
      event_type: 'user_message',
      content: 'secret',
    });
    const erased = await call(sc.url, 'DELETE', '/v1/sessions?user_id=alice');
    expect(erased.body).toEqual({ deleted: 1, held: 0, complete: true });
    expect(await raw.hgetall(`${P}:erased:gone`)).toMatchObject({
      user_id: 'alice',
      app_name: 'chat',
    });
    expect(await raw.ttl(`${P}:erased:gone`)).toBeGreaterThan(80_000);

    // An append names no owner (the default is "user"): the session comes back as alice's.
    const again = await call(sc.url, 'POST', '/v1/sessions/gone/events', {
      event_type: 'user_message',
      content: 'later',
    });
    expect(again.status).toBe(201);
    expect(again.body.session_created).toBe(true);
    const session = await call(sc.url, 'GET', '/v1/sessions/gone');
    expect(session.body).toMatchObject({ user_id: 'alice', app_name: 'chat', event_count: 1 });
    // So the next erasure of alice finds it.
    expect((await call(sc.url, 'DELETE', '/v1/sessions?user_id=alice')).body.deleted).toBe(1);
  });

  it('says what it did through the store, as the operator CLI reports it', async () => {
    await sc.sidecar.store.createSession('cli-1', { userId: 'carol', appName: 'a' });
    const admin = new MemoryAdmin(sc.sidecar.store);
    expect(await admin.deleteUserSessions('carol')).toEqual({
      deleted: 1,
      held: 0,
      complete: true,
    });
    expect(await admin.deleteUserSessions('carol')).toEqual({
      deleted: 0,
      held: 0,
      complete: true,
    });
  });
});
