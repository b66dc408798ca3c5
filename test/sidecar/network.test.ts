// Network faults between the sidecar and a real redis-server, made by a TCP
// proxy (harness/faultproxy.ts): a reply lost after Redis executed a write, a
// reset, a black-holed connection, a slow link. The invariant, checked after
// randomized schedules of all of them under concurrent writers: every
// acknowledged event is stored exactly once, in its writer's order, and nothing
// unacknowledged is stored twice.
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../harness/faultproxy.js';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess, startSidecar } from '../../harness/sidecar.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(env: Record<string, string> = {}) {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  const proxy = await FaultProxy.start({ port: redis.port });
  cleanups.push(() => proxy.stop());
  const raw = redis.client();
  cleanups.push(async () => raw.disconnect());
  const sc = await startSidecar({ MEMORY_REDIS_URL: proxy.url, ...env });
  cleanups.push(() => sc.close());
  return { redis, proxy, raw, sc };
}

async function stored(raw: Redis, key: string): Promise<{ event_id: string; content: unknown }[]> {
  return (await raw.lrange(key, 0, -1)).map(
    (e) => JSON.parse(e) as { event_id: string; content: unknown },
  );
}

async function metric(url: string, name: string): Promise<number> {
  const text = (await call(url, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** A seeded PRNG (mulberry32): a failing schedule can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a reply lost after Redis executed the write', () => {
  it.each([
    ['a server-made event id', undefined],
    ['a client event id', 'client-1'],
  ])(
    'with %s: answered 503 "may have been stored", stored at most once; the retry with the id stores nothing twice',
    async (_, eventId) => {
      const { proxy, raw, sc } = await setup();
      // Warm: the script is loaded, so the next reply is the write's own.
      await call(sc.url, 'POST', '/v1/sessions/warm/events', { event_type: 'x', content: 0 });
      proxy.dropReplies(1);
      const body = {
        event_type: 'user_message',
        content: 'lost reply',
        ...(eventId ? { event_id: eventId } : {}),
      };
      const res = await call(sc.url, 'POST', '/v1/sessions/lost/events', body);
      expect(proxy.injected.droppedReplies).toBe(1);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.body.error.message).toMatch(
        /may or may not have been stored: retry it with the same event_id/,
      );
      // Redis did store it: once, not again on the reconnect.
      await pollUntil(
        'the sidecar reconnected',
        async () => (await call(sc.url, 'GET', '/readyz')).status === 200,
      );
      await sleep(300); // a resend would land in this time
      expect((await stored(raw, `${sc.prefix}:events:lost`)).length).toBe(1);
      if (eventId) {
        const retry = await call(sc.url, 'POST', '/v1/sessions/lost/events', body);
        expect(retry.status).toBe(200);
        expect(retry.body).toMatchObject({ stored: 0, duplicates: 1, session_created: false });
        expect((await stored(raw, `${sc.prefix}:events:lost`)).length).toBe(1);
      }
    },
  );
});

describe('a black-holed connection', () => {
  it('is replaced within seconds while Redis answers at the same address; metrics and /readyz tell the truth meanwhile', async () => {
    const { proxy, sc } = await setup({ MEMORY_REDIS_TIMEOUT_MS: '500' });
    const reconnectsBefore = await metric(sc.url, 'kaos_memory_sidecar_redis_reconnects_total');
    proxy.freeze({ existingOnly: true }); // the old connection hangs; a new one gets through
    const started = Date.now();
    const during = await call(sc.url, 'POST', '/v1/sessions/hole/events', {
      event_type: 'x',
      content: 1,
    });
    expect(during.status).toBe(503);
    expect(during.body.error.code).toBe('redis_timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
    await pollUntil(
      'a write through a new connection',
      async () =>
        (await call(sc.url, 'POST', '/v1/sessions/hole/events', { event_type: 'x', content: 2 }))
          .status === 201,
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const recoveredMs = Date.now() - started;
    expect(recoveredMs).toBeLessThan(8_000);
    expect(await metric(sc.url, 'kaos_memory_sidecar_redis_reconnects_total')).toBeGreaterThan(
      reconnectsBefore,
    );
    expect(await metric(sc.url, 'kaos_memory_sidecar_redis_up')).toBe(1);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
    console.info(
      `black-holed connection replaced ${recoveredMs} ms after the first failed request`,
    );
  });

  it('while every connection is black-holed: 503 at the deadline, redis_up 0 and /readyz 503 within seconds, then recovery', async () => {
    const { proxy, sc } = await setup({ MEMORY_REDIS_TIMEOUT_MS: '500' });
    proxy.freeze();
    await call(sc.url, 'GET', '/v1/sessions/x').catch(() => undefined);
    await pollUntil(
      'redis_up 0',
      async () => (await metric(sc.url, 'kaos_memory_sidecar_redis_up')) === 0,
      {
        timeoutMs: 8_000,
        intervalMs: 200,
      },
    );
    const ready = await call(sc.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    proxy.heal();
    await pollUntil(
      'ready again',
      async () => (await call(sc.url, 'GET', '/readyz')).status === 200,
      {
        timeoutMs: 10_000,
        intervalMs: 200,
      },
    );
    expect(await metric(sc.url, 'kaos_memory_sidecar_redis_up')).toBe(1);
  });

  it('SIGTERM while Redis is black-holed: the process exits 0 in bounded time', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const proxy = await FaultProxy.start({ port: redis.port });
    cleanups.push(() => proxy.stop());
    const sc = await SidecarProcess.start(
      {
        MEMORY_REDIS_URL: proxy.url,
        MEMORY_REDIS_TIMEOUT_MS: '500',
        MEMORY_SHUTDOWN_TIMEOUT_MS: '2000',
      },
      { ready: '/readyz' },
    );
    cleanups.push(() => sc.close());
    proxy.freeze();
    const inflight = call(sc.url, 'POST', '/v1/sessions/t/events', { event_type: 'x', content: 1 });
    await pollUntil('the write in flight', async () => {
      const text = (await call(sc.url, 'GET', '/metrics')).text;
      return /kaos_memory_sidecar_http_requests_in_flight\{[^}]*route="\/v1\/sessions\/\{id\}\/events"[^}]*\} 1/.test(
        text,
      );
    });
    const started = Date.now();
    const exit = await sc.stop(); // SIGTERM; SIGKILL only after 5 s
    const took = Date.now() - started;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeLessThan(4_500);
    expect((await inflight).status).toBe(503);
  });
});

describe('a slow link', () => {
  it('still serves, within the deadline, every route', async () => {
    const { proxy, sc } = await setup();
    proxy.slow(150);
    const res = await call(sc.url, 'POST', '/v1/sessions/slow/events', {
      event_type: 'x',
      content: 1,
    });
    expect(res.status).toBe(201);
    expect((await call(sc.url, 'GET', '/v1/sessions/slow/events')).body.events).toHaveLength(1);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
  });
});

describe('randomized fault schedules under concurrent writers', () => {
  const SEEDS = (process.env.FAULT_SEEDS ?? '11,23,37,41,53,67').split(',').map(Number);

  it.each(SEEDS)(
    'seed %i: every acknowledged event stored exactly once and in order; nothing unacknowledged stored twice',
    async (seed) => {
      const random = prng(seed);
      const { proxy, raw, sc } = await setup({
        MEMORY_REDIS_TIMEOUT_MS: '400',
        MEMORY_MAX_SESSION_EVENTS: '100000',
      });
      const session = `chaos-${seed}`;
      let running = true;
      const acked: string[] = [];
      const attempts = { ok: 0, failed: 0 };
      // Writers with ids retry each event until it is acknowledged, as the README says.
      const withIds = Array.from({ length: 4 }, async (_, w) => {
        for (let n = 0; running; n++) {
          const id = `w${w}-${n}`;
          for (;;) {
            const res = await call(sc.url, 'POST', `/v1/sessions/${session}/events`, {
              event_id: id,
              event_type: 'user_message',
              content: { writer: w, n },
            }).catch(() => ({ status: 0 }));
            if (res.status === 200 || res.status === 201) break;
            attempts.failed++;
            if (!running) return;
            await sleep(10 + random() * 40);
          }
          attempts.ok++;
          acked.push(id);
        }
      });
      // A writer without ids never retries: each attempt's nonce may land at most once.
      const nonces: string[] = [];
      const withoutIds = (async () => {
        for (let n = 0; running; n++) {
          const nonce = `nonce-${n}`;
          nonces.push(nonce);
          await call(sc.url, 'POST', `/v1/sessions/${session}/events`, {
            event_type: 'agent_response',
            content: nonce,
          }).catch(() => undefined);
        }
      })();

      // The schedule: eight faults at random moments.
      const schedule: string[] = [];
      for (let step = 0; step < 8; step++) {
        await sleep(150 + random() * 350);
        const pick = random();
        if (pick < 0.3) {
          const n = 1 + Math.floor(random() * 3);
          proxy.dropReplies(n);
          schedule.push(`drop ${n}`);
        } else if (pick < 0.5) {
          proxy.resetAll();
          schedule.push('reset');
        } else if (pick < 0.75) {
          const ms = Math.floor(200 + random() * 1_500);
          proxy.freeze({ existingOnly: random() < 0.5 });
          await sleep(ms);
          proxy.heal();
          schedule.push(`freeze ${ms}ms`);
        } else {
          const ms = Math.floor(20 + random() * 200);
          proxy.slow(ms);
          await sleep(300 + random() * 500);
          proxy.heal();
          schedule.push(`slow ${ms}ms`);
        }
      }
      proxy.heal();
      // Writes resume once the faults end. Drops that outlive a connection eat the next
      // handshake's reply, so a schedule of many drops can hold the client in its reconnect
      // backoff (up to MAX_BACKOFF_MS, 2 s, a try) for the whole schedule: wait for the
      // recovery, not a time.
      const atHeal = attempts.ok;
      await pollUntil(
        '20 writes acknowledged after the last fault',
        () => attempts.ok >= atHeal + 20,
        { timeoutMs: 30_000 },
      );
      running = false;
      await Promise.all([...withIds, withoutIds]);

      const events = await stored(raw, `${sc.prefix}:events:${session}`);
      const ids = events.map((e) => e.event_id);
      const where = `seed ${seed}, schedule [${schedule.join(', ')}]`;
      const lost = acked.filter((id) => !ids.includes(id));
      const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
      expect(lost, where).toEqual([]);
      expect(twice, where).toEqual([]);
      for (let w = 0; w < 4; w++) {
        const mine = ids
          .filter((id) => id.startsWith(`w${w}-`))
          .map((id) => Number(id.split('-')[1]));
        expect(mine, `${where}: writer ${w}'s order`).toEqual([...mine].sort((a, b) => a - b));
      }
      const landed = events.map((e) => e.content).filter((c): c is string => typeof c === 'string');
      expect(
        landed.filter((c, i) => landed.indexOf(c) !== i),
        `${where}: nonces stored twice`,
      ).toEqual([]);
      expect(landed.every((c) => nonces.includes(c))).toBe(true);
      // The faults were real.
      expect(attempts.failed, where).toBeGreaterThan(0);
    },
    60_000,
  );
});
