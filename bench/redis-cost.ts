// What the store's calls cost Redis, the one process every agent's memory shares:
// Redis's own CPU time (INFO cpu) per append of one event and per read of the last 20,
// made by a MemoryStore as the sidecar makes them, beside the Redis-era layout's own
// commands for the same work (what KAOS's Python RedisMemory sends: RPUSH, LTRIM, HSET,
// ZADD and EXPIREs in one MULTI; one LRANGE), in alternating rounds on one redis-server.
// The scripts do more (the index, the copies, ids checked, the tag), so the ratio is the
// price of those; the sidecar's own CPU is bench/sidecar.ts's.
import type { Redis } from 'ioredis';
import { RedisServer } from '../harness/redis.js';
import { createLogger } from '../lib/logger.js';
import { openStore } from '../sidecar/backend.js';
import { loadSidecarConfig } from '../sidecar/config.js';
import { withRedisCpu } from './lib/cpu.js';
import { closedLoop, type Op } from './lib/load.js';
import { median } from './lib/stats.js';
import { fmt, table } from './lib/table.js';

/** Each round's length, per side. */
const ROUND_MS = 1_000;
const ROUNDS = 5;
/** Callers at once, as 16 agent turns in flight. */
const CONCURRENCY = 16;
const P = 'kaos:memory';
const OWNER = { userId: 'user', appName: 'agent' };
const EVENT = { event_type: 'user_message', content: 'x'.repeat(100) };
const TTL = 86_400;

/** Redis's CPU µs per op: CONCURRENCY callers of `op` for ROUND_MS. */
async function perOp(redis: Redis, op: Op): Promise<number> {
  const result = await withRedisCpu(redis, () => closedLoop(CONCURRENCY, ROUND_MS, op));
  if (result.errors > 0) throw new Error(`${result.errors} calls failed`);
  return result.redisUs;
}

export async function benchRedisCost(): Promise<void> {
  const server = await RedisServer.start();
  const config = loadSidecarConfig({
    MEMORY_REDIS_URL: server.url,
    MEMORY_SIDECAR_PORT: '1',
    LOG_LEVEL: 'error',
  });
  const backend = openStore(config, createLogger('bench', 'error'));
  const { store } = backend;
  const redis = backend.redis as Redis;
  const raw = server.client();
  try {
    await redis.connect();
    const events = Array.from({ length: 100 }, () => EVENT);
    for (let s = 0; s < 4; s++) await store.appendEvents(`read-${s}`, events, OWNER);
    const entry = JSON.stringify({ event_id: 'e', timestamp: 't', ...EVENT, metadata: {} });
    const ops: Record<string, [Op, Op]> = {
      'append one event': [
        async (c) => {
          await store.appendEvents(`append-${c}`, [EVENT], OWNER);
        },
        async (c) => {
          await raw
            .multi()
            .rpush(`${P}:events:era-${c}`, entry)
            .ltrim(`${P}:events:era-${c}`, -1000, -1)
            .hset(`${P}:session:era-${c}`, 'updated_at', 't')
            .zadd(`${P}:sessions`, Date.now() / 1000, `era-${c}`)
            .expire(`${P}:events:era-${c}`, TTL)
            .expire(`${P}:session:era-${c}`, TTL)
            .exec();
        },
      ],
      'read the last 20': [
        async (c) => {
          await store.readEvents(`read-${c % 4}`, { limit: 20 });
        },
        async (c) => {
          await raw.lrange(`${P}:events:read-${c % 4}`, -20, -1);
        },
      ],
    };
    const rows: (string | number)[][] = [];
    for (const [name, [viaStore, era]] of Object.entries(ops)) {
      const scripted: number[] = [];
      const plain: number[] = [];
      await perOp(redis, viaStore); // warm-up: scripts loaded, sessions indexed
      for (let r = 0; r < ROUNDS; r++) {
        scripted.push(await perOp(redis, viaStore));
        plain.push(await perOp(redis, era));
      }
      const s = median(scripted);
      const b = median(plain);
      rows.push([name, fmt.us(s), fmt.us(b), fmt.ratio(s / b)]);
    }
    console.log(`### What a call costs Redis (CPU µs per op, medians of ${ROUNDS} rounds)\n`);
    console.log(
      table(
        ['operation', 'MemoryStore (the sidecar)', 'Redis-era commands (KAOS Python)', 'ratio'],
        rows,
      ),
    );
    console.log(
      '\nRedis serves every agent of the cluster from one thread: its CPU per call bounds ' +
        'the memory operations a second of all agents together.\n',
    );
  } finally {
    raw.disconnect();
    await backend.close();
    await server.stop();
  }
}
