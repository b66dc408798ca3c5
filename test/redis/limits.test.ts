// The caps a store keeps, on a real Redis: sessions past MEMORY_MAX_SESSIONS are
// evicted oldest first and counted in kaos_memory_sidecar_sessions_evicted_total.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';

let redis: RedisServer;
let raw: Redis;
const sidecars: RunningSidecar[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
});

afterAll(async () => {
  for (const sc of sidecars) await sc.close();
  raw?.disconnect();
  await redis?.stop();
});

async function metric(url: string, name: string): Promise<number> {
  const text = (await call(url, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('MEMORY_MAX_SESSIONS', () => {
  it('evicts the least recently updated sessions and counts them', async () => {
    const sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_MAX_SESSIONS: '5' });
    sidecars.push(sc);
    expect(await metric(sc.url, 'kaos_memory_sidecar_sessions_evicted_total')).toBe(0);
    for (let i = 0; i < 8; i++) {
      const res = await call(sc.url, 'POST', `/v1/sessions/s${i}/events`, {
        event_type: 'user_message',
        content: `m${i}`,
      });
      expect(res.status).toBe(201);
    }
    expect(await raw.zrange(`${sc.prefix}:sessions`, '0', '-1')).toEqual([
      's3',
      's4',
      's5',
      's6',
      's7',
    ]);
    expect(await raw.exists(`${sc.prefix}:events:s0`, `${sc.prefix}:session:s2`)).toBe(0);
    expect(await metric(sc.url, 'kaos_memory_sidecar_sessions_evicted_total')).toBe(3);
  });
});
