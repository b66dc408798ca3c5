// Redis Cluster: three masters (with a replica each where a test needs failover),
// all real redis-server processes. Every route works, one session's keys share a
// slot so each write stays one transaction, sessions spread over every master,
// and resharding or losing a master under load loses no acknowledged event.
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisCluster } from '../../harness/redis-topology.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import type { Sidecar } from '../../sidecar/server.js';
import { keySlot, Keys } from '../../memory/keys.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function sidecar(
  cluster: RedisCluster,
  env: Record<string, string> = {},
): Promise<RunningSidecar & { sidecar: Sidecar }> {
  const sc = await startSidecar({ MEMORY_REDIS_URL: cluster.url(), ...env });
  cleanups.push(() => sc.close());
  return sc;
}

function clusterClient(cluster: RedisCluster): Cluster {
  const client = new Cluster(
    cluster.nodes.filter((n) => n.running).map((n) => ({ host: '127.0.0.1', port: n.port })),
  );
  client.on('error', () => undefined);
  return client;
}

const post = (url: string, path: string, body: unknown) => call(url, 'POST', path, body);

/** Every session id listed by following next_cursor from the first page. */
async function listAll(url: string, query = 'limit=7'): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '';
  for (let pages = 0; pages < 1000; pages++) {
    const page = await call(
      url,
      'GET',
      `/v1/sessions?${query}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(page.status).toBe(200);
    ids.push(...page.body.sessions.map((s: { session_id: string }) => s.session_id));
    if (!page.body.next_cursor) return ids;
    cursor = page.body.next_cursor as string;
  }
  throw new Error('listing did not end');
}

/** Writers appending numbered events with ids, retrying each until acknowledged. */
function retryingWriters(url: string, sessions: string[], writers: number) {
  let running = true;
  const acked: { session: string; id: string }[] = [];
  let failures = 0;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const session = sessions[(w + n) % sessions.length] as string;
      const id = `w${w}-${n}`;
      for (;;) {
        const res = await post(url, `/v1/sessions/${session}/events`, {
          event_id: id,
          event_type: 'user_message',
          content: n,
        }).catch(() => ({ status: 0 }));
        if (res.status === 200 || res.status === 201) break;
        failures++;
        if (!running) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      acked.push({ session, id });
    }
  });
  return {
    acked,
    get failures() {
      return failures;
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** The event ids stored per session, read straight from the cluster. */
async function storedIds(cluster: RedisCluster, prefix: string, sessions: string[]) {
  const client = clusterClient(cluster);
  const keys = new Keys(prefix, true);
  try {
    const out = new Map<string, string[]>();
    for (const s of sessions) {
      const raw = await client.lrange(keys.forSession(s).events, 0, -1);
      out.set(
        s,
        raw.map((e) => (JSON.parse(e) as { event_id: string }).event_id),
      );
    }
    return out;
  } finally {
    client.disconnect();
  }
}

function checkExactlyOnce(acked: { session: string; id: string }[], stored: Map<string, string[]>) {
  const lost = acked.filter((a) => !stored.get(a.session)?.includes(a.id));
  const doubled = [...stored.values()].flatMap((ids) =>
    ids.filter((id, i) => ids.indexOf(id) !== i),
  );
  expect(lost).toEqual([]);
  expect(doubled).toEqual([]);
}

describe('Redis Cluster: the API', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  });
  afterAll(() => cluster?.stop());

  it('serves every route', async () => {
    const sc = await sidecar(cluster);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
    const created = await post(sc.url, '/v1/sessions', { session_id: 'c1', user_id: 'ana' });
    expect(created.status).toBe(201);
    expect((await post(sc.url, '/v1/sessions', { session_id: 'c1' })).status).toBe(200);
    const appended = await post(sc.url, '/v1/sessions/c1/events', [
      { event_type: 'user_message', content: 'Remember: 42', event_id: 'a' },
      { event_type: 'agent_response', content: 'Noted.', event_id: 'b' },
      { event_type: 'tool_call', content: { name: 'x' }, event_id: 'c' },
    ]);
    expect(appended.status).toBe(201);
    expect(appended.body.stored).toBe(3);
    const got = await call(sc.url, 'GET', '/v1/sessions/c1');
    expect(got.body).toMatchObject({ session_id: 'c1', user_id: 'ana', event_count: 3 });
    const events = await call(sc.url, 'GET', '/v1/sessions/c1/events?types=user_message,tool_call');
    expect(events.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['a', 'c']);
    const last = await call(sc.url, 'GET', '/v1/sessions/c1/events?limit=1');
    expect(last.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['c']);
    const older = await call(
      sc.url,
      'GET',
      `/v1/sessions/c1/events?limit=1&cursor=${last.body.next_cursor}`,
    );
    expect(older.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['b']);
    const context = await call(sc.url, 'GET', '/v1/sessions/c1/context');
    expect(context.body.context).toBe('User: Remember: 42\nAssistant: Noted.');
    const kaos = await call(sc.url, 'GET', '/memory/events?session_id=c1');
    expect(kaos.body.total).toBe(3);
    expect((await call(sc.url, 'GET', '/memory/sessions')).body.sessions).toContain('c1');
    const byUser = await call(sc.url, 'GET', '/v1/sessions?user_id=ana');
    expect(byUser.body.sessions.map((s: { session_id: string }) => s.session_id)).toEqual(['c1']);
    expect((await call(sc.url, 'DELETE', '/v1/sessions/c1')).status).toBe(204);
    expect((await call(sc.url, 'GET', '/v1/sessions/c1')).status).toBe(404);
    expect((await call(sc.url, 'DELETE', '/v1/sessions/c1')).status).toBe(404);
  });

  it("keeps one session's keys in one slot, and spreads sessions over every master", async () => {
    const sc = await sidecar(cluster, { MEMORY_MAX_SESSIONS: '100000' });
    const ids = Array.from({ length: 300 }, (_, i) => `spread-${i}`);
    await Promise.all(
      ids.map((id) =>
        post(sc.url, `/v1/sessions/${id}/events`, { event_type: 'user_message', content: id }),
      ),
    );
    const keys = new Keys(sc.prefix, true);
    for (const id of ids.slice(0, 20)) {
      const k = keys.forSession(id);
      expect(new Set([keySlot(k.session), keySlot(k.events), keySlot(k.index)]).size).toBe(1);
    }
    const perMaster = await Promise.all(
      (await cluster.masters()).map(async (m) => Number(await m.node.command('DBSIZE'))),
    );
    expect(perMaster.every((n) => n > 20)).toBe(true);
    // The listing across all indexes is complete and duplicate-free.
    const listed = await listAll(sc.url, 'limit=13');
    expect(listed.length).toBe(ids.length);
    expect(new Set(listed).size).toBe(ids.length);
    expect(new Set(listed)).toEqual(new Set(ids));
  });

  it('lists completely with a user filter across indexes, a page at a time', async () => {
    const sc = await sidecar(cluster, { MEMORY_MAX_SESSIONS: '100000' });
    const mine = Array.from({ length: 40 }, (_, i) => `mine-${i}`);
    for (const [i, id] of mine.entries()) {
      await post(sc.url, '/v1/sessions', { session_id: id, user_id: 'bob' });
      // Others' sessions between bob's, so pages must skip over them.
      await post(sc.url, '/v1/sessions', { session_id: `other-${i}`, user_id: 'eve' });
    }
    const listed = await listAll(sc.url, 'limit=3&user_id=bob');
    expect(listed.slice().sort()).toEqual(mine.slice().sort());
    expect(listed).toEqual(mine.slice().reverse());
  });

  it('answers create races and same-event_id retries once', async () => {
    const sc = await sidecar(cluster);
    const races = await Promise.all(
      Array.from({ length: 30 }, () => post(sc.url, '/v1/sessions', { session_id: 'race' })),
    );
    expect(races.filter((r) => r.status === 201)).toHaveLength(1);
    expect(races.filter((r) => r.status === 200)).toHaveLength(29);
    const retries = await Promise.all(
      Array.from({ length: 30 }, () =>
        post(sc.url, '/v1/sessions/race/events', {
          event_type: 'user_message',
          content: 1,
          event_id: 'once',
        }),
      ),
    );
    expect(retries.filter((r) => r.body.stored === 1)).toHaveLength(1);
    const events = await call(sc.url, 'GET', '/v1/sessions/race/events');
    expect(events.body.events).toHaveLength(1);
  });

  it('sets the sliding TTL and trims to the newest events', async () => {
    const sc = await sidecar(cluster, {
      MEMORY_SESSION_TTL_SECONDS: '120',
      MEMORY_MAX_SESSION_EVENTS: '5',
    });
    for (let i = 0; i < 8; i++) {
      await post(sc.url, '/v1/sessions/trim/events', { event_type: 'user_message', content: i });
    }
    const events = await call(sc.url, 'GET', '/v1/sessions/trim/events');
    expect(events.body.events.map((e: { content: number }) => e.content)).toEqual([3, 4, 5, 6, 7]);
    const client = clusterClient(cluster);
    try {
      const k = new Keys(sc.prefix, true).forSession('trim');
      for (const key of [k.session, k.events]) {
        const ttl = await client.ttl(key);
        expect(ttl).toBeGreaterThan(100);
        expect(ttl).toBeLessThanOrEqual(120);
      }
    } finally {
      client.disconnect();
    }
  });

  it('evicts the oldest sessions across all indexes past MEMORY_MAX_SESSIONS', async () => {
    const sc = await sidecar(cluster, { MEMORY_MAX_SESSIONS: '20' });
    const ids = Array.from({ length: 35 }, (_, i) => `ev-${String(i).padStart(2, '0')}`);
    for (const id of ids) await post(sc.url, '/v1/sessions', { session_id: id });
    const listed = await listAll(sc.url);
    expect(listed.slice().sort()).toEqual(ids.slice(-20));
    expect((await call(sc.url, 'GET', '/v1/sessions/ev-00')).status).toBe(404);
    expect((await call(sc.url, 'GET', `/v1/sessions/${ids.at(-1)}`)).status).toBe(200);
  });
});

describe('Redis Cluster under change', () => {
  it('a resharding while writing: MOVED and ASK are followed, nothing acknowledged is lost or doubled', async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    cleanups.push(() => cluster.stop());
    const sc = await sidecar(cluster, { MEMORY_MAX_SESSION_EVENTS: '100000' });
    const sessions = Array.from({ length: 40 }, (_, i) => `rs-${i}`);
    const load = retryingWriters(sc.url, sessions, 8);
    await pollUntil('writes before the resharding', () => load.acked.length > 200, {
      timeoutMs: 30_000,
    });
    const [from, to] = await cluster.masters();
    await cluster.reshard(from!.id, to!.id, 2000);
    const [afterFrom, afterTo] = await cluster.masters();
    const ackedAtEnd = load.acked.length;
    await pollUntil('writes after the resharding', () => load.acked.length > ackedAtEnd + 200, {
      timeoutMs: 30_000,
    });
    await load.stop();
    expect((afterFrom?.slots ?? 0) + (afterTo?.slots ?? 0)).toBe(
      (from?.slots ?? 0) + (to?.slots ?? 0),
    );
    expect(afterTo?.slots).toBeGreaterThan(to?.slots ?? 0);
    checkExactlyOnce(load.acked, await storedIds(cluster, sc.prefix, sessions));
    console.info(
      `cluster resharding under load: ${load.acked.length} acknowledged, 0 lost, 0 doubled`,
    );
  }, 120_000);

  it('MIN_REPLICAS=1: a master SIGKILLed under load loses no acknowledged event, and writes resume', async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    cleanups.push(() => cluster.stop());
    const sc = await sidecar(cluster, {
      MEMORY_REDIS_MIN_REPLICAS: '1',
      MEMORY_MAX_SESSION_EVENTS: '100000',
    });
    const sessions = Array.from({ length: 40 }, (_, i) => `fo-${i}`);
    const load = retryingWriters(sc.url, sessions, 8);
    await pollUntil('writes before the failover', () => load.acked.length > 300, {
      timeoutMs: 30_000,
    });
    const [victim] = await cluster.masters();
    await victim!.node.kill();
    const killedAt = Date.now();
    const ackedAtKill = load.acked.length;
    await cluster.waitFailover(victim!.node);
    // The promoted replica has no replica of its own, so WAIT 1 refuses writes to its
    // slots until the lost node comes back (as Kubernetes restarts a pod) and follows it.
    await victim!.node.start();
    await pollUntil('writes after the failover', () => load.acked.length > ackedAtKill + 300, {
      timeoutMs: 30_000,
    });
    const resumedMs = Date.now() - killedAt;
    await load.stop();
    checkExactlyOnce(load.acked, await storedIds(cluster, sc.prefix, sessions));
    expect(load.failures).toBeGreaterThan(0);
    console.info(
      `cluster master failover, MIN_REPLICAS=1: ${load.acked.length} acknowledged, 0 lost, writes on all indexes again ${resumedMs} ms after the kill (the lost node restarted as a replica)`,
    );
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
  }, 120_000);
});

describe('Redis Cluster: a node the sidecar has just learned of', () => {
  it('takes a burst of writes at once, with no refusal while its connection opens', async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    cleanups.push(() => cluster.stop());
    const sc = await sidecar(cluster);
    const [victim] = await cluster.masters();
    await victim!.node.kill();
    await cluster.waitFailover(victim!.node);
    // The sidecar learns the new master at its next slot refresh (every 5 s): wait until its
    // client's masters are the cluster's. Reading the list opens nothing; no readiness probe
    // runs meanwhile (each would open every master's connection).
    const ports = (list: (number | undefined)[]) => list.sort((a, b) => a! - b!).join();
    const want = ports((await cluster.masters()).map((m) => m.node.port));
    const client = sc.sidecar.redis as Cluster;
    await pollUntil(
      "the sidecar's slot refresh",
      () => ports(client.nodes('master').map((n) => n.options.port)) === want,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const replies = await Promise.all(
      Array.from({ length: 96 }, (_, i) =>
        post(sc.url, `/v1/sessions/burst-${i}/events`, { event_type: 'x', content: i }),
      ),
    );
    const refused = replies.filter((r) => r.status !== 201).map((r) => r.text);
    expect(refused).toEqual([]);
  }, 90_000);
});
