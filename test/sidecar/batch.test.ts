// The store's transactions share round trips (sidecar/batch.ts): the writes of
// one event-loop turn go to Redis in one socket write, yet each stays its own
// MULTI/EXEC with its own outcome.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransactionBatcher } from '../../memory/batch.js';
import { closeRedis, connectRedis } from '../../memory/connection.js';
import type { MemoryStore } from '../../memory/store.js';
import { parseRedisUrl } from '../../lib/redis-url.js';
import { FaultProxy } from '../../harness/faultproxy.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';

const OWNER = { userId: 'u', appName: 'a' };
const PREFIX = 'batch';

let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;
let store: MemoryStore;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  // The store the sidecar itself wires up, called directly so calls share one turn.
  const started = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_KEY_PREFIX: PREFIX });
  sc = started;
  store = started.sidecar.store;
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

/** Socket reads Redis has processed so far, over all its clients. */
async function readsProcessed(): Promise<number> {
  const info = await raw.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(info)?.[1]);
}

describe('transactions started in one turn', () => {
  it('reach Redis in a handful of reads, not one per transaction', async () => {
    await store.ready(); // the script cache and connection are warm before counting
    await store.appendEvents('warm', [{ event_type: 'user_message', content: 'x' }], OWNER);
    const before = await readsProcessed();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.appendEvents(`turn-${i}`, [{ event_type: 'user_message', content: `m${i}` }], OWNER),
      ),
    );
    const reads = (await readsProcessed()) - before;
    expect(results.every((r) => r.created && r.events[0]?.stored)).toBe(true);
    // 200 transactions of ~600 bytes are ~120 KB: a few 16 KB reads, plus our INFO calls.
    expect(reads).toBeLessThan(40);
    for (const i of [0, 99, 199]) {
      const stored = await raw.lrange(`${PREFIX}:events:turn-${i}`, 0, -1);
      expect(stored).toHaveLength(1);
      expect(JSON.parse(stored[0] ?? '{}').content).toBe(`m${i}`);
    }
  });

  it('keep their own outcomes: one failing transaction fails alone', async () => {
    await raw.set(`${PREFIX}:events:broken`, 'not a list');
    const settled = await Promise.allSettled([
      store.appendEvents('ok-1', [{ event_type: 'user_message', content: 'a' }], OWNER),
      store.appendEvents('broken', [{ event_type: 'user_message', content: 'b' }], OWNER),
      store.appendEvents('ok-2', [{ event_type: 'user_message', content: 'c' }], OWNER),
      store.getSession('ok-1'),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    const failure = settled[1] as PromiseRejectedResult;
    expect(String(failure.reason)).toMatch(/holds a string, not a list/);
    expect(await raw.llen(`${PREFIX}:events:ok-1`)).toBe(1);
    expect(await raw.llen(`${PREFIX}:events:ok-2`)).toBe(1);
    expect(await raw.get(`${PREFIX}:events:broken`)).toBe('not a list');
  });

  it('reload the script after SCRIPT FLUSH and store each event once', async () => {
    await raw.script('FLUSH');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.appendEvents(
          `flushed-${i}`,
          [{ event_id: `event_${i}`, event_type: 'user_message', content: 'x' }],
          OWNER,
        ),
      ),
    );
    expect(results.every((r) => r.events[0]?.stored)).toBe(true);
    for (let i = 0; i < 30; i++) {
      expect(await raw.llen(`${PREFIX}:events:flushed-${i}`)).toBe(1);
    }
  });

  it('reads in the same turn as writes see a consistent session', async () => {
    const id = 'mixed';
    await store.createSession(id, OWNER);
    const [, , session, page] = await Promise.all([
      store.appendEvents(id, [{ event_type: 'user_message', content: 1 }], OWNER),
      store.appendEvents(id, [{ event_type: 'agent_response', content: 2 }], OWNER),
      store.getSession(id),
      store.readEvents(id, {}),
    ]);
    // Issued in this order on one connection, the reads run after both writes.
    expect(session?.event_count).toBe(2);
    expect(page.events.map((e) => e.content)).toEqual([1, 2]);
  });
});

describe('a connection that is not ready yet', () => {
  // The batcher writes a transaction's commands one by one (memory/batch.ts); while the
  // connection is still being set up none of them may go, or EXEC could answer for a
  // transaction that lost a command on the way.
  it('acknowledges no transaction it did not run', async () => {
    const proxy = await FaultProxy.start({ port: redis.port });
    proxy.slow(100); // each reply 100 ms late: the ready check's INFO stays in flight
    const client = connectRedis(parseRedisUrl(proxy.url), { timeoutMs: 2_000 });
    const batcher = new TransactionBatcher(client, { minReplicas: 0, waitMs: 0 });
    const key = 'batch:not-ready';
    const outcomes: Promise<string>[] = [];
    try {
      void client.connect().catch(() => undefined);
      while (client.status !== 'ready') {
        outcomes.push(
          batcher
            .run(0, (tx) => tx.call('incr', key))
            .then(
              (replies) => (replies.length === 1 ? 'done' : `short: ${JSON.stringify(replies)}`),
              () => 'refused',
            ),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      const settled = await Promise.all(outcomes);
      expect(settled.filter((o) => o !== 'done' && o !== 'refused')).toEqual([]);
      expect(settled).toContain('refused'); // the window was real
      expect(Number(await raw.get(key))).toBe(settled.filter((o) => o === 'done').length);
    } finally {
      await closeRedis(client);
      await proxy.stop();
    }
  });
});
