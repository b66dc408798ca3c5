// Faults with real processes: Redis gone, Redis hung, the sidecar killed -9,
// redis-server killed -9 and restarted from its AOF, and a graceful SIGTERM.
import { afterEach, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { pollUntil } from '../../harness/poll.js';
import { SidecarProcess, startSidecar } from '../../harness/sidecar.js';
import { ContractViolation, call } from '../../harness/http.js';
import { SseClient } from './sse.js';

const IN_FLIGHT = 'kaos_memory_sidecar_http_requests_in_flight';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function redisServer(opts: { aof?: boolean } = {}): Promise<RedisServer> {
  const r = await RedisServer.start(opts);
  cleanups.push(() => r.stop());
  return r;
}

/** A Redis the test may hang (SIGSTOP) and a sidecar whose Redis calls give up after 500 ms. */
async function withDeadline500() {
  const redis = await redisServer();
  const sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_REDIS_TIMEOUT_MS: '500' });
  cleanups.push(async () => {
    redis.resume();
    await sc.close();
  });
  return { redis, sc };
}

/** Writers that append numbered events until stopped; returns the numbers acknowledged with a 2xx. */
function writeLoad(url: string, session: string, writers: number) {
  let running = true;
  let next = 0;
  const acked: number[] = [];
  const failures: number[] = [];
  const loops = Array.from({ length: writers }, async () => {
    while (running) {
      const n = next++;
      try {
        const res = await call(url, 'POST', `/v1/sessions/${session}/events`, {
          event_id: `ev-${n}`,
          event_type: 'user_message',
          content: n,
        });
        if (res.status >= 200 && res.status < 300) acked.push(n);
        else failures.push(res.status);
      } catch (err) {
        if (err instanceof ContractViolation) throw err;
        failures.push(0); // connection refused or reset: not acknowledged
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
  return {
    acked,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function storedNumbers(redis: RedisServer, key: string): Promise<Set<number>> {
  const client = redis.client();
  try {
    const entries = await client.lrange(key, 0, -1);
    return new Set(entries.map((e) => (JSON.parse(e) as { content: number }).content));
  } finally {
    client.disconnect();
  }
}

describe('sidecar faults', () => {
  it('Redis gone: 503 with Retry-After within the deadline, readyz 503, recovers by itself', async () => {
    const redis = await redisServer();
    const sc = await startSidecar({ MEMORY_REDIS_URL: redis.url });
    cleanups.push(() => sc.close());
    expect(
      (
        await call(sc.url, 'POST', '/v1/sessions/s/events', {
          event_type: 'user_message',
          content: 1,
        })
      ).status,
    ).toBe(201);

    await redis.kill();
    const started = Date.now();
    const res = await call(sc.url, 'POST', '/v1/sessions/s/events', {
      event_type: 'user_message',
      content: 2,
    });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.error.code).toBe('unavailable');
    expect(res.body.error.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|stack/);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(503);
    expect((await call(sc.url, 'GET', '/healthz')).status).toBe(200);

    await redis.startProcess();
    await pollUntil(
      'readyz after Redis returns',
      async () => (await call(sc.url, 'GET', '/readyz')).status === 200,
      { timeoutMs: 10_000 },
    );
    expect(
      (
        await call(sc.url, 'POST', '/v1/sessions/s/events', {
          event_type: 'user_message',
          content: 3,
        })
      ).status,
    ).toBe(201);
    const metrics = (await call(sc.url, 'GET', '/metrics')).body as string;
    expect(metrics).toMatch(/kaos_memory_sidecar_redis_reconnects_total [1-9]/);
  });

  it('Redis hung (SIGSTOP): the request fails with 503 at its deadline instead of hanging', async () => {
    const { redis, sc } = await withDeadline500();
    redis.pause();
    const started = Date.now();
    const res = await call(sc.url, 'POST', '/v1/sessions/h/events', {
      event_type: 'user_message',
      content: 1,
    });
    const took = Date.now() - started;
    expect(res.status).toBe(503);
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(1500);
    redis.resume();
  });

  it('a live tail whose read fails at its deadline reads on once Redis answers, with no new append', async () => {
    const { redis, sc } = await withDeadline500();
    // The appends go through a second sidecar of the same store, whose deadline a loaded
    // machine cannot miss (16 appends of 100 KB at once): the tail's deadline is under test.
    const writer = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_KEY_PREFIX: sc.prefix,
      MEMORY_REDIS_TIMEOUT_MS: '15000',
    });
    cleanups.push(() => writer.close());
    const append = async (content: string) => {
      const res = await call(writer.url, 'POST', '/v1/sessions/t/events', {
        event_type: 'user_message',
        content,
      });
      expect(res.status).toBe(201);
    };
    await append('start');
    const s = await SseClient.open(`${sc.url}/v1/sessions/t/events/stream`);
    expect(s.status).toBe(200);
    // A client that stops reading: 16 MB fill the sockets, so the tail must read the rest from
    // Redis once the client drains them.
    s.pause();
    for (let i = 0; i < 160; i += 16) {
      await Promise.all(
        Array.from({ length: 16 }, (_, j) => append(`${i + j} ${'x'.repeat(100_000)}`)),
      );
    }
    // Past a poll (every 250 ms): it has seen the session's last change.
    await new Promise((r) => setTimeout(r, 600));
    redis.pause();
    s.resume();
    // The tail's read meets the hung Redis and fails at its deadline; nothing is appended after.
    await new Promise((r) => setTimeout(r, 1_500));
    redis.resume();
    // The 160 appended after the stream opened, each once.
    await s.waitFor(160, 10_000);
    expect(new Set(s.ids).size).toBe(160);
    s.close();
  });

  it('SIGKILL of the sidecar during a write load loses no acknowledged event', async () => {
    const redis = await redisServer();
    const sc = await SidecarProcess.start({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_MAX_SESSION_EVENTS: '100000',
    });
    cleanups.push(() => sc.close());
    await pollUntil('ready', async () => (await call(sc.url, 'GET', '/readyz')).status === 200);
    const load = writeLoad(sc.url, 'crash', 16);
    await pollUntil('some writes', async () => load.acked.length > 200, { timeoutMs: 20_000 });
    await sc.kill();
    await load.stop();
    const stored = await storedNumbers(redis, `${sc.prefix}:events:crash`);
    const lost = load.acked.filter((n) => !stored.has(n));
    expect(load.acked.length).toBeGreaterThan(200);
    expect(lost).toEqual([]);
  });

  it('SIGKILL of redis-server (AOF on) and a restart lose no acknowledged event', async () => {
    const redis = await redisServer({ aof: true });
    const sc = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_MAX_SESSION_EVENTS: '100000',
    });
    cleanups.push(() => sc.close());
    const load = writeLoad(sc.url, 'aof', 16);
    await pollUntil('writes before the crash', async () => load.acked.length > 200, {
      timeoutMs: 20_000,
    });
    await redis.kill();
    const beforeRestart = load.acked.length;
    await pollUntil('writers to see the outage', () => load.failures.length > 0);
    await redis.startProcess();
    await pollUntil(
      'writes after the restart',
      async () => load.acked.length > beforeRestart + 100,
      { timeoutMs: 20_000 },
    );
    await load.stop();
    expect(load.failures.length).toBeGreaterThan(0); // the outage was real
    const stored = await storedNumbers(redis, `${sc.prefix}:events:aof`);
    expect(load.acked.filter((n) => !stored.has(n))).toEqual([]);
  });

  it('SIGTERM: finishes the in-flight request, refuses new ones, closes Redis, exits 0', async () => {
    const redis = await redisServer();
    const sc = await SidecarProcess.start({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_REDIS_TIMEOUT_MS: '5000',
    });
    cleanups.push(async () => {
      redis.resume();
      await sc.close();
    });
    await pollUntil('ready', async () => (await call(sc.url, 'GET', '/readyz')).status === 200);
    redis.pause(); // hold the next request in flight
    const inflight = call(sc.url, 'POST', '/v1/sessions/term/events', {
      event_type: 'user_message',
      content: 'last words',
    });
    await pollUntil('the append in flight', async () => {
      const metrics = (await call(sc.url, 'GET', '/metrics')).text;
      return metrics.includes(`${IN_FLIGHT}{route="/v1/sessions/{id}/events",method="POST"} 1`);
    });
    sc.proc.signal('SIGTERM');
    await pollUntil('new connections refused', () =>
      call(sc.url, 'GET', '/healthz').then(
        () => false,
        (err: unknown) => !(err instanceof ContractViolation),
      ),
    );
    expect(sc.proc.running).toBe(true); // still finishing the append
    redis.resume();
    expect((await inflight).status).toBe(201);
    expect(await sc.exited).toEqual({ code: 0, signal: null });
    const stored = await storedNumbers(redis, `${sc.prefix}:events:term`).catch(() => new Set());
    expect(stored.size).toBe(1);
  });
});
