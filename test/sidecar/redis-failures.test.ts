// Each way Redis can refuse, told apart in the answer's code, the metric and the
// log: out of memory (writes refused, reads and deletes still served), a wrong
// password, a read-only replica, a hung server.
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { baseArgs, RedisNode, RedisServer } from '../../harness/redis.js';
import { SidecarProcess, startSidecar } from '../../harness/sidecar.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function errorsOfKind(url: string, kind: string): Promise<number> {
  const text = (await call(url, 'GET', '/metrics')).text;
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`kaos_memory_sidecar_redis_errors_total{kind="${kind}"}`));
  return Number(line?.split(' ').pop() ?? 0);
}

/**
 * The sidecar's output once it holds `line` (or after 5 s without): a failure's line is
 * written after its answer, down another pipe, so it may not be there yet.
 */
async function outputWith(sc: SidecarProcess, line: RegExp): Promise<string> {
  await pollUntil('the refusal logged', () => line.test(sc.proc.output()), {
    timeoutMs: 5_000,
  }).catch(() => undefined);
  return sc.proc.output();
}

describe('Redis at maxmemory with noeviction', () => {
  let redis: RedisServer;
  let raw: Redis;
  let sc: SidecarProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    raw = redis.client();
    sc = await SidecarProcess.start(
      { MEMORY_REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
      { ready: '/readyz' },
    );
    // A session to read and delete later, then fill Redis past its limit.
    for (const id of ['keep', 'drop']) {
      expect(
        (
          await call(sc.url, 'POST', `/v1/sessions/${id}/events`, {
            event_type: 'user_message',
            content: id,
          })
        ).status,
      ).toBe(201);
    }
    // Data first, then a limit below what is used: Redis is full, whatever it frees meanwhile.
    const filler = 'f'.repeat(64 * 1024);
    for (let i = 0; i < 32; i++) await raw.set(`filler:${i}`, filler);
    const used = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
    await raw.config('SET', 'maxmemory-policy', 'noeviction');
    await raw.config('SET', 'maxmemory', String(used - 512 * 1024));
  });
  afterAll(async () => {
    await sc?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  it('refuses writes with 507 redis_oom, counted and logged with the cause', async () => {
    const before = await errorsOfKind(sc.url, 'oom');
    const res = await call(sc.url, 'POST', '/v1/sessions/keep/events', {
      event_type: 'user_message',
      content: 'more',
    });
    expect(res.status).toBe(507);
    expect(res.body.error.code).toBe('redis_oom');
    expect(res.body.error.message).toMatch(/out of memory/);
    const created = await call(sc.url, 'POST', '/v1/sessions', { session_id: 'new' });
    expect(created.status).toBe(507);
    expect(await errorsOfKind(sc.url, 'oom')).toBe(before + 2);
    const logged = /"kind":"oom".*"redis":"OOM command not allowed.*"msg":"request failed"/;
    expect(await outputWith(sc, logged)).toMatch(logged);
  });

  it('still serves every read', async () => {
    expect((await call(sc.url, 'GET', '/v1/sessions/keep')).status).toBe(200);
    const events = await call(sc.url, 'GET', '/v1/sessions/keep/events');
    expect(events.body.events.map((e: { content: string }) => e.content)).toEqual(['keep']);
    expect((await call(sc.url, 'GET', '/v1/sessions')).body.sessions.length).toBe(2);
    expect((await call(sc.url, 'GET', '/v1/sessions/keep/context')).status).toBe(200);
    expect((await call(sc.url, 'GET', '/memory/events')).status).toBe(200);
    expect((await call(sc.url, 'GET', '/memory/sessions')).status).toBe(200);
  });

  it('says it is not ready, with the reason', async () => {
    const ready = await call(sc.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.error.code).toBe('redis_oom');
  });

  it('deletes (deleting is how memory is freed), and writes again once memory is free', async () => {
    expect((await call(sc.url, 'DELETE', '/v1/sessions/drop')).status).toBe(204);
    expect(await raw.exists(`${sc.prefix}:session:drop`, `${sc.prefix}:events:drop`)).toBe(0);
    const fillers = await raw.keys('filler:*');
    await raw.del(...fillers);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
    expect(
      (
        await call(sc.url, 'POST', '/v1/sessions/keep/events', {
          event_type: 'user_message',
          content: 'after',
        })
      ).status,
    ).toBe(201);
  });
});

describe('other refusals, each with its own code', () => {
  it('a wrong password: 503 redis_auth on every route and /readyz, the password in no answer or log line', async () => {
    const redis = await RedisServer.start({ password: 'right-password-1' });
    cleanups.push(() => redis.stop());
    const sc = await SidecarProcess.start(
      {
        MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        MEMORY_REDIS_PASSWORD: 'wrong-password-2',
        LOG_LEVEL: 'info',
      },
      { ready: '/healthz' },
    );
    cleanups.push(() => sc.close());
    const ready = await call(sc.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(['redis_auth', 'unavailable']).toContain(ready.body.error.code);
    const write = await call(sc.url, 'POST', '/v1/sessions/s/events', {
      event_type: 'x',
      content: 1,
    });
    expect(write.status).toBe(503);
    const refused = /WRONGPASS|NOAUTH|redis_auth|"kind":"auth"/;
    const output = await outputWith(sc, refused);
    for (const text of [ready.text, write.text, output]) {
      expect(text).not.toContain('wrong-password-2');
      expect(text).not.toContain('right-password-1');
    }
    expect(output).toMatch(refused);
  });

  it('a read-only replica: writes 503 redis_readonly, reads served, /readyz 503', async () => {
    const primary = await RedisServer.start();
    cleanups.push(() => primary.stop());
    const root = mkdtempSync(join(tmpdir(), 'kaos-replica-'));
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const replica = await RedisNode.create(root, 'replica', (port, dir) =>
      baseArgs(port, dir, ['--replicaof', '127.0.0.1', String(primary.port)]),
    );
    await replica.start();
    cleanups.push(() => replica.kill());
    await pollUntil(
      'the replica in sync',
      async () => (await replica.info('replication')).master_link_status === 'up',
    );
    const sc = await startSidecar(
      { MEMORY_REDIS_URL: `redis://127.0.0.1:${replica.port}` },
      { waitReady: false },
    );
    cleanups.push(() => sc.close());
    // Connected (reads are served), but not writable.
    await pollUntil(
      'reads served',
      async () => (await call(sc.url, 'GET', '/v1/sessions/s/events')).status === 200,
    );
    const write = await call(sc.url, 'POST', '/v1/sessions/s/events', {
      event_type: 'x',
      content: 1,
    });
    expect(write.status).toBe(503);
    expect(write.body.error.code, write.text).toBe('redis_readonly');
    const ready = await call(sc.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.error.code).toBe('redis_readonly');
  });

  it('a hung Redis: 503 redis_timeout at the deadline', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_REDIS_TIMEOUT_MS: '300' });
    cleanups.push(() => sc.close());
    redis.pause();
    cleanups.push(async () => redis.resume());
    const res = await call(sc.url, 'GET', '/v1/sessions/s');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('redis_timeout');
    redis.resume();
  });
});
