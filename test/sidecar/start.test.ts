// The sidecar as the image starts it, `node dist/cli/main.js sidecar` from `npm run build`:
// the one-file bundle runs with the V8 code cache the build made for it under the injected
// NODE_OPTIONS, and a cache V8 refuses (other flags) costs only the compile it would have
// spared (cli/bundle.ts, docs/adr/0038-the-sidecar-s-cpu-and-start.md).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { REPO_ROOT } from '../../harness/root.js';
import { SidecarProcess } from '../../harness/sidecar.js';
import { SIDECAR_NODE_OPTIONS } from '../../lib/contract.js';

let redis: RedisServer;
const started: SidecarProcess[] = [];

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bundle', 'sidecar.cjs'))) {
    throw new Error('dist/bundle/sidecar.cjs not found: run `npm run build` first');
  }
  redis = await RedisServer.start();
});
afterAll(async () => {
  await Promise.all(started.map((p) => p.kill()));
  await redis?.stop();
});

/** Starts the built sidecar under `nodeOptions`; its URL and its "listening" log line. */
async function start(
  nodeOptions: string,
): Promise<{ url: string; listening: { codeCache?: string } }> {
  const sc = await SidecarProcess.start(
    { NODE_OPTIONS: nodeOptions, LOG_LEVEL: 'info', MEMORY_REDIS_URL: redis.url },
    { ready: '/readyz' },
  );
  started.push(sc);
  const output = sc.proc.output();
  const line = output.split('\n').find((l) => l.includes('"memory sidecar listening"'));
  expect(line, output).toBeDefined();
  return { url: sc.url, listening: JSON.parse(line as string) as { codeCache?: string } };
}

describe('the built sidecar start', () => {
  it('runs the bundle with the code cache the build made for the injected NODE_OPTIONS', async () => {
    const { listening } = await start(SIDECAR_NODE_OPTIONS);
    expect(listening.codeCache).toBe('used');
  });

  // Every agent pod pays what an idle sidecar does, all day: a timer firing every 10 ms (the
  // event-loop delay histogram at prom-client's default) woke it ~100 times a second, every
  // 100 ms 10 times. It now samples only while it serves (sidecar/loop-delay.ts).
  it('sleeps while idle: its main thread wakes at most 5 times a second', async () => {
    await start(SIDECAR_NODE_OPTIONS);
    const sc = started.at(-1) as SidecarProcess;
    await new Promise((r) => setTimeout(r, 1_000));
    const before = sc.proc.wakeups();
    await new Promise((r) => setTimeout(r, 3_000));
    const perSecond = (sc.proc.wakeups() - before) / 3;
    // Room for a collection's waits on its helper thread; no timer of its own.
    expect(perSecond).toBeLessThanOrEqual(5);
  });

  it('under other V8 flags V8 refuses the cache, and the sidecar starts and serves all the same', async () => {
    const { url, listening } = await start('--max-semi-space-size=4');
    expect(listening.codeCache).toBe('rejected');
    const body = { event_type: 'user_message', content: 'after a refused cache' };
    expect((await call(url, 'POST', '/v1/sessions/s/events', body)).status).toBe(201);
    const read = await call(url, 'GET', '/v1/sessions/s/events');
    expect(read.body.events.map((e: { content: string }) => e.content)).toEqual([body.content]);
  });
});
