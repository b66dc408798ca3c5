// The fact store on a real Redis: its bounds, its expiry and its erasure.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../lib/redis-url.js';
import { RedisServer } from '../harness/redis.js';
import { randomPrefix } from '../harness/sidecar.js';
import { connectRedis, closeRedis, type RedisClient } from './connection.js';
import { StoreError } from './errors.js';
import { FactStore, MAX_FACT_BYTES, type FactLimits } from './facts.js';

let redis: RedisServer;
let raw: Redis;
let client: RedisClient;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  client = connectRedis(parseRedisUrl(redis.url), { timeoutMs: 2000 });
  await client.connect();
});

afterAll(async () => {
  if (client) await closeRedis(client);
  raw?.disconnect();
  await redis?.stop();
});

function store(limits: Partial<FactLimits> = {}): FactStore {
  return new FactStore(client, {
    keyPrefix: randomPrefix(),
    maxFacts: 100,
    maxPerScope: 100,
    ttlSeconds: 3600,
    timeoutMs: 2000,
    minReplicas: 0,
    maxReadBytes: 1024 * 1024,
    ...limits,
  });
}

const texts = (facts: { memory: string }[]) => facts.map((f) => f.memory);
const alice = { principal: 'alice', agent: 'kaos://agent/ns/a', session: 's1' };

describe('facts', () => {
  it('finds a fact through each of its owners, newest first', async () => {
    const s = store();
    await s.write(alice, [{ text: 'one', role: 'user' }]);
    await s.write({ ...alice, session: 's2' }, [{ text: 'two', role: 'assistant' }]);
    expect(texts(await s.read({ kind: 'user', principal: 'alice' }, 10))).toEqual(['two', 'one']);
    expect(texts(await s.read({ kind: 'agent', agent: alice.agent }, 10))).toEqual(['two', 'one']);
    expect(texts(await s.read({ kind: 'session', session: 's1' }, 10))).toEqual(['one']);
    expect(texts(await s.read({ kind: 'group' }, 1))).toEqual(['two']);
    expect(
      texts(await s.read({ kind: 'agent', agent: alice.agent, principal: 'bob' }, 10)),
    ).toEqual([]);
  });

  it('keeps each agent, user and session to its cap, dropping the oldest fact everywhere', async () => {
    const s = store({ maxPerScope: 3 });
    for (const text of ['f1', 'f2', 'f3']) await s.write(alice, [{ text, role: 'user' }]);
    await s.write({ principal: 'alice', session: 's9' }, [{ text: 'f4', role: 'user' }]);
    expect(texts(await s.read({ kind: 'user', principal: 'alice' }, 10))).toEqual([
      'f4',
      'f3',
      'f2',
    ]);
    // f1 left the user's index, and with it every other index and the data.
    expect(texts(await s.read({ kind: 'agent', agent: alice.agent }, 10))).toEqual(['f3', 'f2']);
    expect(await raw.hlen(s.key('data'))).toBe(3);
    expect(await raw.zcard(s.key('all'))).toBe(3);
    expect(await raw.hlen(s.key('dedupe'))).toBe(3);
  });

  it('keeps the prefix to its cap', async () => {
    const s = store({ maxFacts: 2 });
    await s.write({ agent: 'a' }, [{ text: 'x1', role: 'user' }]);
    await s.write({ agent: 'b' }, [{ text: 'x2', role: 'user' }]);
    await s.write({ agent: 'c' }, [{ text: 'x3', role: 'user' }]);
    expect(texts(await s.read({ kind: 'group' }, 10))).toEqual(['x3', 'x2']);
    expect(await raw.exists(s.key('agent:a'))).toBe(0);
  });

  it('forgets a fact not written again within the TTL, and slides the keys', async () => {
    const s = store({ ttlSeconds: 100 });
    const [old] = await s.write(alice, [{ text: 'stale', role: 'user' }]);
    // Age it by its scores, as 200 seconds would.
    const aged = String(Date.now() / 1000 - 200);
    for (const k of ['all', 'user:alice', 'agent:kaos://agent/ns/a', 'session:s1'] as const) {
      await raw.zadd(s.key(k), aged, old!);
    }
    expect(await s.read({ kind: 'user', principal: 'alice' }, 10)).toEqual([]);
    await s.write(alice, [{ text: 'fresh', role: 'user' }]);
    expect(await raw.hexists(s.key('data'), old!)).toBe(0);
    expect(await raw.zscore(s.key('user:alice'), old!)).toBeNull();
    expect(await raw.ttl(s.key('data'))).toBeGreaterThan(90);
    expect(await raw.ttl(s.key('user:alice'))).toBeGreaterThan(90);
  });

  it('refreshes the same text by the same owners instead of storing it twice', async () => {
    const s = store();
    const [first] = await s.write(alice, [{ text: 'same', role: 'user' }]);
    const [again] = await s.write(alice, [{ text: 'same', role: 'user' }]);
    const [other] = await s.write({ ...alice, principal: 'bob' }, [{ text: 'same', role: 'user' }]);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(await raw.hlen(s.key('data'))).toBe(2);
  });

  it('leaves out a text larger than a fact may be', async () => {
    const s = store();
    const ids = await s.write(alice, [
      { text: 'x'.repeat(MAX_FACT_BYTES + 1), role: 'tool' },
      { text: 'small', role: 'user' },
    ]);
    expect(ids[0]).toBeUndefined();
    expect(texts(await s.read({ kind: 'group' }, 10))).toEqual(['small']);
  });

  it("erases a scope's facts from every index, and only them", async () => {
    const s = store();
    await s.write(alice, [{ text: 'a1', role: 'user' }]);
    await s.write({ principal: 'bob', agent: alice.agent }, [{ text: 'b1', role: 'user' }]);
    expect(await s.erase({ kind: 'user', principal: 'alice' })).toBe(1);
    expect(texts(await s.read({ kind: 'agent', agent: alice.agent }, 10))).toEqual(['b1']);
    expect(await raw.exists(s.key('session:s1'))).toBe(0);
    expect(await s.erase({ kind: 'agent', agent: alice.agent, principal: 'nobody' })).toBe(0);
    expect(await s.erase({ kind: 'agent', agent: alice.agent })).toBe(1);
    expect(await raw.exists(s.key('data'), s.key('all'), s.key('dedupe'))).toBe(0);
  });

  it('refuses to write over a key of another type (409), changing nothing', async () => {
    const s = store();
    await raw.set(s.key('user:alice'), 'not a zset');
    const err = await s.write(alice, [{ text: 'x', role: 'user' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).kind).toBe('layout');
    expect(await raw.exists(s.key('data'))).toBe(0);
  });
});
