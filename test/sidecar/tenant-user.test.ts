// Namespaces as tenants (issue 21, parts 1 and 3), on a real redis-server with ACL users:
// a sidecar authenticating as its namespace's tenant user (MEMORY_REDIS_USERNAME and the
// mounted password file) under its tenant prefix does everything it does as the memory
// user; another tenant's sidecar never sees its sessions; the tenant user cannot reach
// outside its prefix; and each tenant's MEMORY_MAX_SESSIONS evicts only its own sessions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { tenantAclRules, tenantPrefix, tenantUser } from '../../lib/tenancy.js';

const ADMIN = 'admin-' + 'a'.repeat(26);
const cleanups: (() => Promise<unknown>)[] = [];
let redis: RedisServer;

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

beforeAll(async () => {
  redis = await RedisServer.start({ password: ADMIN });
  cleanups.push(() => redis.stop());
});

/** The tenant user of `namespace`, made as the controller makes it; its password. */
async function tenant(namespace: string): Promise<string> {
  const password = `pw-${namespace}-` + 'p'.repeat(24);
  const admin = redis.client();
  try {
    await admin.call(
      'ACL',
      'SETUSER',
      tenantUser(namespace),
      'reset',
      'on',
      `>${password}`,
      ...tenantAclRules(namespace),
    );
  } finally {
    admin.disconnect();
  }
  return password;
}

/** A sidecar of `namespace` as the webhook injects it in an isolated namespace. */
async function tenantSidecar(
  namespace: string,
  password: string,
  env: Record<string, string> = {},
  waitReady = true,
): Promise<RunningSidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'kaos-tenant-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  writeSecretVolume(dir, { password });
  const sc = await startSidecar(
    {
      MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      MEMORY_REDIS_USERNAME: tenantUser(namespace),
      MEMORY_REDIS_PASSWORD_FILE: join(dir, 'password'),
      MEMORY_KEY_PREFIX: tenantPrefix(namespace),
      ...env,
    },
    { waitReady },
  );
  cleanups.push(() => sc.close());
  return sc;
}

describe('a sidecar as its namespace tenant user', () => {
  let a: RunningSidecar;
  let b: RunningSidecar;
  beforeAll(async () => {
    a = await tenantSidecar('team-a', await tenant('team-a'));
    b = await tenantSidecar('team-b', await tenant('team-b'));
  });

  it('writes, reads, lists, holds and erases its own sessions', async () => {
    const post = await call(a.url, 'POST', '/v1/sessions/chat-a/events', {
      event_type: 'user_message',
      content: 'secret of team a',
    });
    expect(post.status).toBe(201);
    expect((await call(a.url, 'GET', '/v1/sessions/chat-a/events')).body.events).toHaveLength(1);
    const listed = (await call(a.url, 'GET', '/v1/sessions')).body.sessions;
    expect(listed.map((s: { session_id: string }) => s.session_id)).toEqual(['chat-a']);
    expect((await call(a.url, 'PUT', '/v1/sessions/chat-a/hold', { reason: 'audit' })).status).toBe(
      200,
    );
    expect((await call(a.url, 'DELETE', '/v1/sessions/chat-a/hold')).status).toBe(200);
    await call(a.url, 'POST', '/v1/sessions/gone-a/events', { event_type: 'x', content: 1 });
    expect((await call(a.url, 'DELETE', '/v1/sessions/gone-a')).status).toBe(204);
    expect((await call(a.url, 'GET', '/v1/sessions/gone-a')).status).toBe(404);
  });

  it("never lists or serves another tenant's session", async () => {
    await call(a.url, 'POST', '/v1/sessions/shared-name/events', { event_type: 'x', content: 'A' });
    expect((await call(b.url, 'GET', '/v1/sessions/chat-a')).status).toBe(404);
    expect((await call(b.url, 'GET', '/v1/sessions/chat-a/events')).body.events).toEqual([]);
    const listed = (await call(b.url, 'GET', '/v1/sessions')).body.sessions;
    expect(listed).toEqual([]);
    // The same id in B is B's own session; A's is untouched by B's writes and erasures.
    await call(b.url, 'POST', '/v1/sessions/shared-name/events', { event_type: 'x', content: 'B' });
    const erased = await call(b.url, 'DELETE', '/v1/sessions?user_id=user');
    expect(erased.status).toBe(200);
    const events = (await call(a.url, 'GET', '/v1/sessions/shared-name/events')).body.events;
    expect(events.map((e: { content: unknown }) => e.content)).toEqual(['A']);
  });

  it('is refused outside its prefix: a sidecar of that user on the shared prefix cannot write', async () => {
    const stray = await tenantSidecar(
      'team-a',
      await tenant('team-a'),
      { MEMORY_KEY_PREFIX: 'kaos:memory' },
      false,
    );
    const write = await call(stray.url, 'POST', '/v1/sessions/s/events', {
      event_type: 'x',
      content: 1,
    });
    expect(write.status).toBeGreaterThanOrEqual(500);
    expect(write.text).not.toContain('kaos:memory');
    expect((await call(stray.url, 'GET', '/readyz')).status).toBe(503);
  });
});

describe('caps per tenant: each prefix is its own index', () => {
  it("one tenant creating many sessions evicts only its own, never another tenant's", async () => {
    const cap = { MEMORY_MAX_SESSIONS: '3' };
    const busy = await tenantSidecar('busy', await tenant('busy'), cap);
    const quiet = await tenantSidecar('quiet', await tenant('quiet'), cap);
    for (const id of ['q1', 'q2'])
      await call(quiet.url, 'POST', `/v1/sessions/${id}/events`, { event_type: 'x', content: id });
    for (let i = 0; i < 20; i++) {
      const res = await call(busy.url, 'POST', `/v1/sessions/b${i}/events`, {
        event_type: 'x',
        content: i,
      });
      expect(res.status).toBe(201);
    }
    const ids = async (sc: RunningSidecar) =>
      ((await call(sc.url, 'GET', '/v1/sessions')).body.sessions as { session_id: string }[])
        .map((x) => x.session_id)
        .sort();
    // The busy tenant kept its newest three; the quiet one lost nothing.
    expect(await ids(busy)).toEqual(['b17', 'b18', 'b19']);
    expect(await ids(quiet)).toEqual(['q1', 'q2']);
    for (const id of ['q1', 'q2']) {
      const events = (await call(quiet.url, 'GET', `/v1/sessions/${id}/events`)).body.events;
      expect(events.map((e: { content: unknown }) => e.content)).toEqual([id]);
    }
  });
});
