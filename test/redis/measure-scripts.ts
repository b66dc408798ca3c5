// Redis's own time for the store's scripts on sessions of 1 MB, 10 MB and 100 MB:
// an append with an event_id, and the read /context makes (the newest 20 user and
// agent turns among large tool results). Not a test: run it from a checkout with
//   node --import tsx test/redis/measure-scripts.ts
// (from an older checkout too: it uses only MemoryStore's constructor, appendEvents
// and readEvents). Times are what SLOWLOG records with slowlog-log-slower-than 0:
// execution inside Redis, not the network. One operation may be several calls;
// the table gives the sum over its calls and the longest single call (the median of
// REPEAT runs; each append follows a large entry, which it reads), and the Lua
// interpreter's memory (used_memory_lua) at its highest after a call.
import { connectRedis, dropRedis, type RedisClient } from '../../memory/connection.js';
import { MemoryStore } from '../../memory/store.js';
import { RedisServer } from '../../harness/redis.js';

const OWNER = { userId: 'user', appName: 'bench' };
const TURNS = ['user_message', 'agent_response'];

interface Shape {
  name: string;
  events: number;
  bytes: number;
}

const SHAPES: Shape[] = [
  { name: '1 MB (50 x 20 KB)', events: 50, bytes: 20_000 },
  { name: '10 MB (50 x 200 KB)', events: 50, bytes: 200_000 },
  { name: '100 MB (500 x 200 KB)', events: 500, bytes: 200_000 },
  { name: '100 MB (100 x 1 MiB)', events: 100, bytes: 1_048_576 },
];
const REPEAT = 5;

async function slowlogTimes(admin: RedisClient): Promise<number[]> {
  const entries = (await admin.call('SLOWLOG', 'GET', '1000')) as [
    number,
    number,
    number,
    string[],
  ][];
  await admin.call('SLOWLOG', 'RESET');
  return entries
    .filter(([, , , args]) => /^eval/i.test(String(args[0])))
    .map(([, , micros]) => micros / 1000);
}

async function measure(admin: RedisClient, op: () => Promise<unknown>) {
  await admin.call('SLOWLOG', 'RESET');
  await op();
  const times = await slowlogTimes(admin);
  return { sum: times.reduce((a, b) => a + b, 0), max: Math.max(0, ...times), calls: times.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const server = await RedisServer.start();
  const redis = connectRedis(
    { kind: 'single', host: '127.0.0.1', port: server.port, db: 0, tls: false },
    { timeoutMs: 60_000 },
  );
  await redis.connect();
  const admin = server.client() as unknown as RedisClient;
  const store = new MemoryStore(redis, {
    keyPrefix: 'measure',
    maxSessionEvents: 500,
    maxSessions: 1000,
    sessionTtlSeconds: 3600,
    timeoutMs: 60_000,
    minReplicas: 0,
    maxReadBytes: 4 * 1024 * 1024,
  });
  const rows: string[] = [];
  try {
    for (const shape of SHAPES) {
      const id = `s-${shape.events}-${shape.bytes}`;
      const big = 'x'.repeat(shape.bytes);
      // Every tenth event a short turn; the rest large tool results.
      for (let i = 0; i < shape.events; i += 10) {
        const batch = Array.from({ length: Math.min(10, shape.events - i) }, (_, j) =>
          (i + j) % 10 === 9
            ? { event_type: TURNS[(i + j) % 2] as string, content: `turn ${i + j}` }
            : { event_type: 'tool_result', content: big },
        );
        await store.appendEvents(id, batch, OWNER);
      }
      // A fresh Lua interpreter: its memory is then what the measured calls use.
      await admin.call('SCRIPT', 'FLUSH');
      await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
      await admin.call('CONFIG', 'SET', 'slowlog-max-len', '10000');
      const appends = [];
      const reads = [];
      const pages = [];
      let lua = 0;
      for (let n = 0; n < REPEAT; n++) {
        // The worst case for an append: a large entry at the tail, which it reads.
        await store.appendEvents(id, [{ event_type: 'tool_result', content: big }], OWNER);
        appends.push(
          await measure(admin, () =>
            store.appendEvents(
              id,
              [{ event_id: `m-${n}`, event_type: 'user_message', content: 'hello' }],
              OWNER,
            ),
          ),
        );
        reads.push(await measure(admin, () => store.readEvents(id, { limit: 20, types: TURNS })));
        pages.push(await measure(admin, () => store.readEvents(id, {})));
        const info = String(await admin.call('INFO', 'memory'));
        lua = Math.max(lua, Number(/used_memory_lua:(\d+)/.exec(info)?.[1] ?? 0));
      }
      await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
      const fmt = (xs: { sum: number; max: number; calls: number }[]) =>
        `${median(xs.map((x) => x.sum)).toFixed(2)} ms (longest call ${Math.max(...xs.map((x) => x.max)).toFixed(2)} ms, ${median(xs.map((x) => x.calls))} calls)`;
      rows.push(
        `| ${shape.name} | ${fmt(appends)} | ${fmt(reads)} | ${fmt(pages)} | ${(lua / 2 ** 20).toFixed(1)} MiB |`,
      );
      await store.deleteSession(id);
      console.error(rows.at(-1));
    }
  } finally {
    dropRedis(redis);
    (admin as unknown as { disconnect(): void }).disconnect();
    await server.stop();
  }
  console.log(
    '| session | append with an id | /context read (20 turns) | a page, no filter (4 MiB) | used_memory_lua peak |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

await main();
