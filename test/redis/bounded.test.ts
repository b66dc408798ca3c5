// Work per request is bounded by the request, not by the session: on a 100 MB
// session an append with an event_id and the read /context makes hold Redis for
// a short while, as Redis itself records it (SLOWLOG on this test's own server),
// and Lua's heap stays small (INFO used_memory_lua, outside maxmemory). Before the
// index, an append with an id read the whole list into Lua (seconds of Redis time
// and the session's size in Lua's heap) and a type filter walked it.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { closeRedis, connectRedis, type RedisClient } from '../../memory/connection.js';
import { MemoryStore } from '../../memory/store.js';

const OWNER = { userId: 'user', appName: 'bounded' };
const TURNS = ['user_message', 'agent_response'];
/** The lowest SLOWLOG threshold, microseconds: "a few milliseconds". */
const FLOOR_MICROS = 5_000;
const MiB = 1024 * 1024;

let server: RedisServer;
let admin: Redis;
let client: RedisClient;
let store: MemoryStore;

beforeAll(async () => {
  server = await RedisServer.start();
  admin = server.client();
  client = connectRedis(
    { kind: 'single', host: '127.0.0.1', port: server.port, db: 0, tls: false },
    { timeoutMs: 30_000 },
  );
  await client.connect();
  store = new MemoryStore(client, {
    keyPrefix: 'bounded',
    maxSessionEvents: 500,
    maxSessions: 100,
    sessionTtlSeconds: 3600,
    timeoutMs: 30_000,
    minReplicas: 0,
    maxReadBytes: 4 * MiB,
  });
});

afterAll(async () => {
  if (client) await closeRedis(client);
  admin?.disconnect();
  await server?.stop();
});

/** Moves 2 MiB through Lua: a budgeted call's most (its budget and one entry past it, and the reply). */
const CALIBRATION =
  "local a = redis.call('LINDEX', KEYS[1], 0) local b = redis.call('LINDEX', KEYS[1], 1) return {#a, b}";

/** One calibration call: what such a call costs on this machine now, as Redis records it. */
async function calibrate(): Promise<void> {
  await admin.eval(CALIBRATION, 1, 'calibration');
}

async function luaMemory(): Promise<number> {
  const info = await admin.info('memory');
  return Number(/used_memory_lua:(\d+)/.exec(info)?.[1]);
}

/**
 * The store's script calls that SLOWLOG (recording every call) holds since the last reset and
 * that took longer than a few times the longest calibration call among them, and at least
 * FLOOR_MICROS. The calibration calls are made before and between the store's, so a spell of
 * other work on the machine slows both alike. The cost of the request, not of the session:
 * the whole-list reads this replaced took hundreds of times that.
 */
async function slowScripts(): Promise<{ threshold: number; slow: string[] }> {
  const entries = (await admin.call('SLOWLOG', 'GET', '-1')) as [
    number,
    number,
    number,
    string[],
  ][];
  const scripts = entries.filter(([, , , args]) => /^eval/i.test(String(args[0])));
  const isCalibration = (args: string[]) => String(args[3]) === 'calibration';
  const longest = Math.max(
    ...scripts.filter(([, , , args]) => isCalibration(args)).map(([, , us]) => us),
  );
  const threshold = Math.max(FLOOR_MICROS, 3 * longest);
  const slow = scripts
    .filter(([, , micros, args]) => !isCalibration(args) && micros > threshold)
    .map(([, , micros, args]) => `${micros} us: ${args.slice(0, 5).join(' ')}`);
  return { threshold, slow };
}

describe.each([
  { events: 500, bytes: 200_000, name: '500 events of 200 KB' },
  { events: 100, bytes: MiB, name: '100 events of 1 MiB' },
])('a 100 MB session of $name', ({ events, bytes }) => {
  const id = `big-${events}`;
  const big = 'x'.repeat(bytes);

  beforeAll(async () => {
    // Every tenth event a short turn, the others large tool results.
    for (let i = 0; i < events; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) =>
        j === 9
          ? { event_type: TURNS[(i / 10) % 2] as string, content: `turn ${i + j}` }
          : { event_type: 'tool_result', content: big },
      );
      await store.appendEvents(id, batch, OWNER);
    }
    expect(await admin.memory('USAGE', `bounded:events:${id}`)).toBeGreaterThan(100 * 1e6);
  }, 300_000);

  afterAll(async () => {
    await store.deleteSession(id);
  });

  it('an append with an event_id and a /context read each hold Redis briefly, with a small Lua heap', async () => {
    await admin.rpush('calibration', 'x'.repeat(MiB), 'y'.repeat(MiB));
    await admin.call('SCRIPT', 'FLUSH'); // a fresh interpreter: its heap is then what these calls use
    await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
    await admin.call('CONFIG', 'SET', 'slowlog-max-len', '1024');
    await admin.call('SLOWLOG', 'RESET');
    for (let i = 0; i < 5; i++) await calibrate();
    let lua = 0;
    for (let n = 0; n < 5; n++) {
      // The worst case for the next append: a large entry at the tail.
      await store.appendEvents(id, [{ event_type: 'tool_result', content: big }], OWNER);
      const event = { event_id: `msg-${n}`, event_type: 'user_message', content: `hello ${n}` };
      const first = await store.appendEvents(id, [event], OWNER);
      const retry = await store.appendEvents(id, [event], OWNER);
      expect([first.events[0]?.stored, retry.events[0]?.stored]).toEqual([true, false]);
      const context = await store.readEvents(id, { limit: 20, types: TURNS });
      expect(context.events).toHaveLength(Math.min(20, events / 10 + n + 1));
      expect(context.events.at(-1)?.event_id).toBe(`msg-${n}`);
      const page = await store.readEvents(id, {});
      expect(page.bytes).toBeLessThanOrEqual(4 * MiB);
      expect(page.events.at(-1)?.event_id).toBe(`msg-${n}`);
      lua = Math.max(lua, await luaMemory());
      await calibrate();
    }
    // 25 script calls: a few may be slow because the machine paused redis-server mid-call
    // (this tier runs niced beside the real node); a script that walked the session would
    // be slow on every call, by hundreds of times.
    const { threshold, slow } = await slowScripts();
    await admin.del('calibration');
    console.info(`SLOWLOG threshold on this machine, over the calls: ${threshold / 1000} ms`);
    expect(
      slow.length,
      `script calls over ${threshold / 1000} ms:\n${slow.join('\n')}`,
    ).toBeLessThanOrEqual(5);
    expect(lua).toBeLessThan(8 * MiB);
  }, 120_000);
});
