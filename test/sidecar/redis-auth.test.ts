// A password Redis refuses, at connect and at reconnect, is told apart from an outage:
// every route answers 503 redis_auth (not `unavailable`), and the refusals are counted
// as kind="auth", which is what the KaosMemoryRedisAuthFailing alert watches. A fixed
// password (the mounted Secret updated) ends it without a restart; a Redis that then
// goes away is an outage again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { startSidecar } from '../../harness/sidecar.js';

const RIGHT = 'right-' + 'r'.repeat(24);
const WRONG = 'wrong-' + 'w'.repeat(24);

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

/** The code of each route's answer, for routes that reach Redis. */
async function codes(url: string): Promise<string[]> {
  const answers = await Promise.all([
    call(url, 'GET', '/readyz'),
    call(url, 'POST', '/v1/sessions/s/events', { event_type: 'x', content: 1 }),
    call(url, 'GET', '/v1/sessions/s/events'),
    call(url, 'GET', '/v1/sessions'),
    call(url, 'GET', '/memory/sessions'),
  ]);
  for (const a of answers) expect(a.status).toBe(503);
  return answers.map((a) => a.body.error.code as string);
}

describe('a password Redis refuses', () => {
  it('at connect: every route answers 503 redis_auth, counted as kind="auth"; then an outage is `unavailable`', async () => {
    const redis = await RedisServer.start({ password: RIGHT });
    cleanups.push(() => redis.stop());
    const sc = await startSidecar(
      { MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`, MEMORY_REDIS_PASSWORD: WRONG },
      { waitReady: false },
    );
    cleanups.push(() => sc.close());
    await pollUntil(
      'a refused connect counted',
      async () => (await errorsOfKind(sc.url, 'auth')) > 0,
    );
    expect(await codes(sc.url)).toEqual(new Array(5).fill('redis_auth'));
    expect(await errorsOfKind(sc.url, 'connection')).toBe(0);
    for (const text of [(await call(sc.url, 'GET', '/readyz')).text]) {
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain(RIGHT);
    }

    await redis.kill();
    await pollUntil('an outage answered as one', async () =>
      (await codes(sc.url)).every((c) => c === 'unavailable'),
    );
  });

  it('at reconnect (the password changed under a running sidecar): redis_auth until the mounted file has the new one', async () => {
    const redis = await RedisServer.start({ password: WRONG });
    cleanups.push(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'kaos-auth-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeSecretVolume(dir, { password: WRONG });
    const sc = await startSidecar({
      MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      MEMORY_REDIS_PASSWORD_FILE: join(dir, 'password'),
    });
    cleanups.push(() => sc.close());
    const write = () =>
      call(sc.url, 'POST', '/v1/sessions/s/events', { event_type: 'x', content: 'turn' });
    expect((await write()).status).toBe(201);

    // The password changes on Redis only; the sidecar's connection is cut and comes back with the old one.
    const admin = redis.client();
    await admin.config('SET', 'requirepass', RIGHT);
    admin.disconnect();
    await killClients(redis.port, RIGHT);
    await pollUntil('the reconnect refused', async () => (await errorsOfKind(sc.url, 'auth')) > 0);
    expect(await codes(sc.url)).toEqual(new Array(5).fill('redis_auth'));

    writeSecretVolume(dir, { password: RIGHT });
    await pollUntil('writes accepted again', async () => (await write()).status === 201, {
      timeoutMs: 20_000,
    });
  });
});

describe('Sentinel: the primary refusing the password', () => {
  it('at connect: 503 redis_auth, counted as kind="auth"', async () => {
    const group = await SentinelGroup.start({ password: RIGHT, replicas: 0, sentinels: 1 });
    cleanups.push(() => group.stop());
    const sc = await startSidecar(
      { MEMORY_REDIS_URL: group.url({ password: false }), MEMORY_REDIS_PASSWORD: WRONG },
      { waitReady: false },
    );
    cleanups.push(() => sc.close());
    await pollUntil(
      'a refused connect counted',
      async () => (await errorsOfKind(sc.url, 'auth')) > 0,
    );
    expect(await codes(sc.url)).toEqual(new Array(5).fill('redis_auth'));
  });
});

describe('Redis Cluster refusing the password', () => {
  it('at connect: 503 redis_auth, counted as kind="auth"', async () => {
    const cluster = await RedisCluster.start({ password: RIGHT });
    cleanups.push(() => cluster.stop());
    const seeds = cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
    const sc = await startSidecar(
      { MEMORY_REDIS_URL: `redis+cluster://${seeds}`, MEMORY_REDIS_PASSWORD: WRONG },
      { waitReady: false },
    );
    cleanups.push(() => sc.close());
    await pollUntil(
      'a refused connect counted',
      async () => (await errorsOfKind(sc.url, 'auth')) > 0,
    );
    expect(await codes(sc.url)).toEqual(new Array(5).fill('redis_auth'));
  });
});

/** CLIENT KILL of every other client of a node, authenticated with `password`. */
async function killClients(port: number, password: string): Promise<void> {
  const admin = new Redis({ port, password, lazyConnect: true, retryStrategy: () => null });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  } finally {
    admin.disconnect();
  }
}
