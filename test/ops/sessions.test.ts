// `kaos-memory sessions` on every topology the sidecar supports, against real
// redis-server processes: list, show, export, import (byte for byte, TTLs and index
// scores kept, existing sessions kept unless --replace), delete and erase. One
// session is also moved from a single Redis to a Cluster and read back through a sidecar.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { kaosMemory } from '../../harness/kaos.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { randomPrefix, startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { tenantAclRules, tenantPrefix, tenantUser } from '../../lib/tenancy.js';
import { closeRedis } from '../../memory/connection.js';
import { Keys } from '../../memory/keys.js';
import {
  openStore,
  parseInvocation,
  runCommand,
  UsageError,
  type Invocation,
} from '../../ops/main.js';
import type { SessionRecord } from '../../ops/records.js';
import type { Sidecar } from '../../sidecar/server.js';

interface Topology {
  name: string;
  url: string;
  stop(): Promise<void>;
}

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** One `kaos-memory sessions …` in this process, against `url`. */
async function sessions(
  url: string,
  argv: string[],
  stdin = '',
  env: Record<string, string> = {},
): Promise<Ran> {
  const inv = parseInvocation(argv) as Invocation;
  const { redis, store } = await openStore(inv, { MEMORY_REDIS_URL: url, ...env });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  try {
    const status = await runCommand(inv, store, {
      stdin: Readable.from([stdin]),
      stdout,
      stderr,
      progress: stderr,
    });
    return { status, stdout: out(), stderr: err() };
  } finally {
    await closeRedis(redis);
  }
}

const records = (text: string): SessionRecord[] =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SessionRecord);

/** Records without what moves with the clock (TTLs), by session id. */
function comparable(text: string): Map<string, Omit<SessionRecord, 'session_ttl' | 'events_ttl'>> {
  const out = new Map<string, Omit<SessionRecord, 'session_ttl' | 'events_ttl'>>();
  for (const { session_ttl: _s, events_ttl: _e, ...rest } of records(text))
    out.set(rest.session_id, rest);
  return out;
}

/** Sessions for two users through a real sidecar, plus entries only a raw client writes. */
async function seed(
  url: string,
  prefix: string,
  clustered: boolean,
): Promise<{ sc: RunningSidecar & { sidecar: Sidecar }; ids: string[] }> {
  const sc = await startSidecar({ MEMORY_REDIS_URL: url, MEMORY_KEY_PREFIX: prefix });
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const id = `s-${i}`;
    ids.push(id);
    await call(sc.url, 'POST', '/v1/sessions', {
      session_id: id,
      user_id: i % 4 === 0 ? 'alice' : 'bob',
      app_name: 'ops',
    });
    await call(sc.url, 'POST', `/v1/sessions/${id}/events`, [
      { event_type: 'user_message', content: `héllo ${i} ✓`, metadata: { n: i } },
      { event_type: 'agent_response', content: { nested: [1, 2.5, null] } },
    ]);
  }
  // What only another writer leaves: bytes that are not UTF-8, and a key with no TTL.
  const k = new Keys(prefix, clustered).forSession('s-1');
  await sc.sidecar.redis.rpush(k.events, Buffer.from([0xff, 0x00, 0xfe, 0x41]));
  await sc.sidecar.redis.persist(k.session);
  return { sc, ids };
}

function suite(start: () => Promise<Topology>) {
  let topo: Topology;
  let source: string;
  let sc: RunningSidecar & { sidecar: Sidecar };
  let exported: string;

  beforeAll(async () => {
    topo = await start();
    source = randomPrefix();
    ({ sc } = await seed(topo.url, source, topo.name === 'cluster'));
  });
  afterAll(async () => {
    await sc?.close();
    await topo?.stop();
  });

  it('exports every session as one JSON line with its raw entries, TTLs and score', async () => {
    const ran = await sessions(topo.url, ['export', '--all', '--prefix', source]);
    expect(ran.status).toBe(0);
    expect(ran.stderr).toMatch(/^40 sessions exported .*, done$/m);
    exported = ran.stdout;
    const all = records(exported);
    expect(all.map((r) => r.session_id).sort()).toEqual(
      Array.from({ length: 40 }, (_, i) => `s-${i}`).sort(),
    );
    const one = all.find((r) => r.session_id === 's-1')!;
    expect(one.session).toMatchObject({ session_id: 's-1', user_id: 'bob', app_name: 'ops' });
    expect(one.session_ttl).toBe(-1);
    expect(one.events_ttl).toBeGreaterThan(86_000);
    expect(one.events).toHaveLength(3);
    expect(one.events[0]).toMatch(/^\{"event_id": "event_[0-9a-f]{8}", "timestamp": /);
    expect(one.events[0]).toContain('"content": "h\\u00e9llo 1 \\u2713"');
    expect(one.events[2]).toEqual({
      base64: Buffer.from([0xff, 0x00, 0xfe, 0x41]).toString('base64'),
    });
    expect(one.index_score).toMatch(/^\d+\.\d+$/);
  });

  it('imports into another prefix byte for byte, and exports the same again', async () => {
    const target = randomPrefix();
    const ran = await sessions(topo.url, ['import', '--prefix', target], exported);
    expect(ran.status).toBe(0);
    expect(ran.stderr).toMatch(/40 sessions read .*: 40 written, 0 already there and kept/);
    const again = await sessions(topo.url, ['export', '--all', '--prefix', target]);
    expect(comparable(again.stdout)).toEqual(comparable(exported));
    const before = new Map(records(exported).map((r) => [r.session_id, r]));
    for (const r of records(again.stdout)) {
      const was = before.get(r.session_id)!;
      expect(r.session_ttl === -1 ? -1 : was.session_ttl - r.session_ttl).toBeLessThanOrEqual(5);
      expect(Math.abs(was.events_ttl - r.events_ttl)).toBeLessThanOrEqual(5);
    }
    // The restored sessions read back through the API as they were written.
    const reader = await startSidecar({ MEMORY_REDIS_URL: topo.url, MEMORY_KEY_PREFIX: target });
    try {
      const page = await call(reader.url, 'GET', '/v1/sessions/s-2/events');
      const original = await call(sc.url, 'GET', '/v1/sessions/s-2/events');
      expect(page.body.events).toEqual(original.body.events);
      const listed = await call(reader.url, 'GET', '/v1/sessions?limit=5');
      const first = await call(sc.url, 'GET', '/v1/sessions?limit=5');
      expect(listed.body.sessions).toEqual(first.body.sessions);
    } finally {
      await reader.close();
    }

    // Existing sessions are left alone unless --replace.
    await call(sc.url, 'DELETE', '/v1/sessions/s-3');
    const kept = await sessions(topo.url, ['import', '--prefix', target], exported);
    expect(kept.stderr).toMatch(/: 0 written, 40 already there and kept/);
    const replaced = await sessions(
      topo.url,
      ['import', '--replace', '--prefix', target],
      exported,
    );
    expect(replaced.stderr).toMatch(/: 40 written, 0 already there and kept/);
  });

  it('replaces a session with pinned events: none of them outlives the import', async () => {
    const target = randomPrefix();
    const reader = await startSidecar({ MEMORY_REDIS_URL: topo.url, MEMORY_KEY_PREFIX: target });
    try {
      const pinned = {
        event_type: 'instruction',
        content: 'Old rule.',
        metadata: { pinned: true },
      };
      expect((await call(reader.url, 'POST', '/v1/sessions/s-7/events', pinned)).status).toBe(201);
      const ran = await sessions(topo.url, ['import', '--replace', '--prefix', target], exported);
      expect(ran.status).toBe(0);
      const window = await call(reader.url, 'GET', '/v1/sessions/s-7/context?max_tokens=1000');
      expect(window.status).toBe(200);
      expect(window.body.context).toMatch(/^User: héllo 7 ✓\nAssistant: \{'nested'/);
      expect(window.body.context).not.toContain('Old rule.');
      expect(window.body.window.pinned).toBe(0);
    } finally {
      await reader.close();
    }
  });

  it('checks every record before writing anything: one unsound line and nothing is imported', async () => {
    const lines = exported.trim().split('\n');
    const target = randomPrefix();
    // A score past a double's range: Redis's ZADD refuses it, after the restore wrote the
    // rest of that session (scripts are not rolled back) and the lines before it.
    const overflow = JSON.parse(lines[2] as string) as SessionRecord;
    overflow.index_score = '1e400';
    const broken = [lines[0], '{"v":1}', lines[1], JSON.stringify(overflow), lines[3]].join('\n');
    const ran = await sessions(topo.url, ['import', '--prefix', target], broken);
    expect(ran.status).toBe(1);
    expect(ran.stderr).toMatch(/^line 2: session_id: must be a non-empty string$/m);
    expect(ran.stderr).toMatch(/^line 4: index_score: must be null or a number Redis takes/m);
    expect(ran.stderr).toMatch(/^2 records are not sound: nothing was imported$/m);
    // Named, so a session's keys are looked up whether or not the index lists it.
    const ids = [0, 1, 2, 3].map(
      (i) => (JSON.parse(lines[i] as string) as SessionRecord).session_id,
    );
    const after = await sessions(topo.url, ['export', ...ids, '--prefix', target]);
    expect(after.stdout).toBe('');
    expect(after.stderr.match(/does not exist/g)).toHaveLength(4);
  });

  it('imports from a file named on the command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaos-import-file-'));
    try {
      const file = join(dir, 'backup.jsonl');
      writeFileSync(file, exported);
      const target = randomPrefix();
      const ran = await sessions(topo.url, ['import', file, '--prefix', target]);
      expect(ran.status).toBe(0);
      expect(ran.stderr).toMatch(/40 sessions read .*: 40 written/);
      const again = await sessions(topo.url, ['export', '--all', '--prefix', target]);
      expect(comparable(again.stdout)).toEqual(comparable(exported));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists newest first, by user, and shows one session', async () => {
    const listed = await sessions(topo.url, [
      'list',
      '--user',
      'alice',
      '--limit',
      '4',
      '--prefix',
      source,
    ]);
    const rows = listed.stdout.trim().split('\n');
    expect(rows[0]).toBe('SESSION_ID\tUSER_ID\tAPP_NAME\tUPDATED_AT');
    expect(rows.slice(1).map((r) => r.split('\t')[0])).toEqual(['s-36', 's-32', 's-28', 's-24']);
    const json = await sessions(topo.url, ['list', '--json', '--limit', '50', '--prefix', source]);
    expect(records(json.stdout)).toHaveLength(39); // s-3 was deleted above
    const shown = await sessions(topo.url, ['show', 's-4', '--prefix', source]);
    const session = JSON.parse(shown.stdout);
    expect(session).toMatchObject({ session_id: 's-4', user_id: 'alice', event_count: 2 });
    expect(session.events.map((e: { content: unknown }) => e.content)).toEqual([
      'héllo 4 ✓',
      { nested: [1, 2.5, null] },
    ]);
    expect((await sessions(topo.url, ['show', 'nope', '--prefix', source])).status).toBe(1);
  });

  it('deletes named sessions and erases every session of one user', async () => {
    const del = await sessions(topo.url, ['delete', 's-5', 'nope', '--prefix', source]);
    expect(del.status).toBe(1);
    expect(del.stdout).toBe('deleted s-5\n');
    expect(del.stderr).toBe('session nope does not exist\n');
    const erased = await sessions(topo.url, ['erase', '--user', 'alice', '--prefix', source]);
    expect(erased.status).toBe(0);
    expect(erased.stdout).toBe('erased 10 sessions of user alice\n');
    const left = records(
      (await sessions(topo.url, ['list', '--json', '--limit', '100', '--prefix', source])).stdout,
    );
    expect(left.filter((s) => (s as unknown as { user_id: string }).user_id === 'alice')).toEqual(
      [],
    );
    expect(left).toHaveLength(28);
    const again = await sessions(topo.url, ['erase', '--user', 'alice', '--prefix', source]);
    expect(again.stdout).toBe('erased 0 sessions of user alice\n');
  });

  it('lists sessions under a legal hold and keeps them from delete and erase', async () => {
    const held = await call(sc.url, 'PUT', '/v1/sessions/s-9/hold', { reason: 'case 1' });
    expect(held.status).toBe(200);
    const holds = await sessions(topo.url, ['holds', '--prefix', source]);
    expect(holds.status).toBe(0);
    expect(holds.stdout).toMatch(/^s-9\theld since \S+\tcase 1\n$/);
    const del = await sessions(topo.url, ['delete', 's-9', '--prefix', source]);
    expect(del.status).toBe(1);
    expect(del.stderr).toMatch(/session s-9 is under a legal hold/);
    const erased = await sessions(topo.url, ['erase', '--user', 'bob', '--prefix', source]);
    expect(erased.stdout).toMatch(
      /^erased \d+ sessions of user bob; 1 held \(legal hold\) and kept\n$/,
    );
    const left = await sessions(topo.url, ['list', '--json', '--prefix', source]);
    expect(records(left.stdout).map((r) => r.session_id)).toEqual(['s-9']);

    // Lifted by the operator (as after its namespace is gone): the TTL applies again.
    const released = await sessions(topo.url, ['release', 's-9', 's-8', '--prefix', source]);
    expect(released.stdout).toBe('released s-9\n');
    expect(released.stderr).toBe('session s-8 is not under a legal hold\n');
    expect(released.status).toBe(1);
    expect((await sessions(topo.url, ['holds', '--prefix', source])).stdout).toBe('');
    const key = new Keys(source, topo.name === 'cluster').forSession('s-9').session;
    expect(await sc.sidecar.redis.ttl(key)).toBeGreaterThan(0);
    const gone = await sessions(topo.url, ['delete', 's-9', '--prefix', source]);
    expect(gone.stdout).toBe('deleted s-9\n');
  });
}

describe('single Redis', () => {
  let redis: RedisServer;
  suite(async () => {
    redis = await RedisServer.start();
    return { name: 'single', url: redis.url, stop: () => redis.stop() };
  });

  it('exports from a Redis at maxmemory, which refuses every write', async () => {
    const prefix = randomPrefix();
    const { sc } = await seed(redis.url, prefix, false);
    await sc.close();
    const client = redis.client();
    await client.config('SET', 'maxmemory', '1');
    try {
      await expect(client.set('x', 'y')).rejects.toThrow(/^OOM/);
      const ran = await sessions(redis.url, ['export', 's-2', 's-3', '--prefix', prefix]);
      expect(ran.status).toBe(0);
      expect(records(ran.stdout).map((r) => r.session_id)).toEqual(['s-2', 's-3']);
    } finally {
      await client.config('SET', 'maxmemory', '0');
      client.disconnect();
    }
  });

  it('runs as the kaos-memory command: export piped into import, progress on stderr', async () => {
    const from = randomPrefix();
    const to = randomPrefix();
    const { sc } = await seed(redis.url, from, false);
    await sc.close();
    const run = (args: string[], input?: string) =>
      new Promise<Ran>((resolve, reject) => {
        const { command, args: full } = kaosMemory(['sessions', ...args]);
        const child = spawn(command, full, {
          env: { PATH: process.env.PATH ?? '', MEMORY_REDIS_URL: redis.url },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
        child.stdin.end(input ?? '');
      });
    const out = await run(['export', '--all', '--prefix', from]);
    expect(out.status).toBe(0);
    expect(out.stderr).toMatch(/40 sessions exported .*, done/);
    const imported = await run(['import', '--prefix', to], out.stdout);
    expect(imported.status).toBe(0);
    const back = await run(['export', '--all', '--quiet', '--prefix', to]);
    expect(back.stderr).toBe('');
    expect(comparable(back.stdout)).toEqual(comparable(out.stdout));
    const usage = await run(['export']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/export: name sessions or give --all/);
    const noUrl = await new Promise<number>((resolve) => {
      const { command, args } = kaosMemory(['sessions', 'list']);
      spawn(command, args, { env: { PATH: process.env.PATH ?? '' } }).on('close', (c) =>
        resolve(c ?? -1),
      );
    });
    expect(noUrl).toBe(1);
  });
});

describe('the password, read as the sidecar reads it', () => {
  const OLD = 'old-' + 'o'.repeat(24);
  const NEW = 'new-' + 'n'.repeat(24);
  let redis: RedisServer;
  let dir: string;

  beforeAll(async () => {
    redis = await RedisServer.start({ password: OLD });
    dir = mkdtempSync(join(tmpdir(), 'kaos-cli-password-'));
  });
  afterAll(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes MEMORY_REDIS_PASSWORD_FILE over MEMORY_REDIS_PASSWORD, and the file as it is after a rotation', async () => {
    const url = `redis://127.0.0.1:${redis.port}`;
    const env = {
      MEMORY_REDIS_PASSWORD: 'stale-' + 's'.repeat(24),
      MEMORY_REDIS_PASSWORD_FILE: join(dir, 'password'),
    };
    writeSecretVolume(dir, { password: OLD });
    expect((await sessions(url, ['list'], '', env)).status).toBe(0);

    // The Secret rotated: Redis and the mounted file change, the variable does not.
    const admin = redis.client();
    await admin.config('SET', 'requirepass', NEW);
    admin.disconnect();
    writeSecretVolume(dir, { password: NEW });
    expect((await sessions(url, ['list'], '', env)).status).toBe(0);

    // Without the file, the stale variable is refused, and the error says so.
    await expect(
      sessions(url, ['list'], '', { MEMORY_REDIS_PASSWORD: env.MEMORY_REDIS_PASSWORD }),
    ).rejects.toThrow(/Redis refused the credentials \(WRONGPASS.*MEMORY_REDIS_PASSWORD_FILE/);
    await expect(
      sessions(url, ['list'], '', { MEMORY_REDIS_PASSWORD_FILE: join(dir, 'missing') }),
    ).rejects.toThrow(/MEMORY_REDIS_PASSWORD_FILE: .*missing, unreadable or empty/);
  });
});

describe('--namespace: one tenant, with its own credentials', () => {
  const ADMIN = 'admin-' + 'a'.repeat(26);
  let redis: RedisServer;
  let dir: string;
  const running: RunningSidecar[] = [];
  const password = (ns: string) => `pw-${ns}-` + 'p'.repeat(24);
  /** The namespace's Secret kaos-memory-tenant as a pod mounts it, as the CLI's env. */
  const asTenant = (ns: string) => {
    writeSecretVolume(join(dir, ns), { password: password(ns) });
    return {
      MEMORY_REDIS_USERNAME: tenantUser(ns),
      MEMORY_REDIS_PASSWORD_FILE: join(dir, ns, 'password'),
    };
  };

  beforeAll(async () => {
    redis = await RedisServer.start({ password: ADMIN });
    dir = mkdtempSync(join(tmpdir(), 'kaos-cli-tenant-'));
    const admin = redis.client();
    for (const ns of ['team-a', 'team-b']) {
      await admin.call(
        'ACL',
        'SETUSER',
        tenantUser(ns),
        'reset',
        'on',
        `>${password(ns)}`,
        ...tenantAclRules(ns),
      );
    }
    admin.disconnect();
    // Each namespace's sidecar writes a session for the same user.
    for (const ns of ['team-a', 'team-b']) {
      const sc = await startSidecar({
        MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        MEMORY_KEY_PREFIX: tenantPrefix(ns),
        ...asTenant(ns),
      });
      running.push(sc);
      await call(sc.url, 'POST', '/v1/sessions', {
        session_id: `${ns}-chat`,
        user_id: 'alice',
        app_name: 'ops',
      });
      await call(sc.url, 'POST', `/v1/sessions/${ns}-chat/events`, {
        event_type: 'user_message',
        content: ns,
      });
    }
  });
  afterAll(async () => {
    for (const sc of running) await sc.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists, exports and erases that namespace's sessions only", async () => {
    const url = `redis://127.0.0.1:${redis.port}`;
    const listed = await sessions(url, ['list', '--namespace', 'team-a'], '', asTenant('team-a'));
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('team-a-chat');
    expect(listed.stdout).not.toContain('team-b');
    const exported = await sessions(
      url,
      ['export', '--all', '--namespace', 'team-a', '--quiet'],
      '',
      asTenant('team-a'),
    );
    expect(records(exported.stdout).map((r) => r.session_id)).toEqual(['team-a-chat']);
    const erased = await sessions(
      url,
      ['erase', '--user', 'alice', '--namespace', 'team-a', '--quiet'],
      '',
      asTenant('team-a'),
    );
    expect(erased.status).toBe(0);
    expect((await call(running[0]!.url, 'GET', '/v1/sessions')).body.sessions).toEqual([]);
    const b = (await call(running[1]!.url, 'GET', '/v1/sessions')).body.sessions;
    expect(b.map((x: { session_id: string }) => x.session_id)).toEqual(['team-b-chat']);
  });

  it("cannot reach another namespace's sessions with one namespace's credentials", async () => {
    const url = `redis://127.0.0.1:${redis.port}`;
    const tried = await sessions(
      url,
      ['list', '--namespace', 'team-b'],
      '',
      asTenant('team-a'),
    ).then(
      (ran) => `${ran.status} ${ran.stderr}`,
      (err: Error) => err.message,
    );
    // NOPERM on the first key read: the credentials are good, the keys are not theirs.
    expect(tried).toMatch(/refused a key or command to these credentials \(NOPERM/);
    expect(tried).not.toContain('team-b-chat');
  });

  it('refuses --namespace with --prefix, and what is not a namespace name', () => {
    expect(parseInvocation(['list', '--namespace', 'team-a'])).toMatchObject({
      prefix: 'kaos:tenant:team-a',
    });
    expect(() => parseInvocation(['list', '--namespace', 'a', '--prefix', 'p'])).toThrow(
      UsageError,
    );
    expect(() => parseInvocation(['list', '--namespace', 'A:*'])).toThrow(
      /--namespace: not a namespace name/,
    );
  });
});

describe('Sentinel', () => {
  let group: SentinelGroup;
  suite(async () => {
    group = await SentinelGroup.start({ replicas: 1, sentinels: 3 });
    return { name: 'sentinel', url: group.url(), stop: () => group.stop() };
  });
});

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  suite(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
    return { name: 'cluster', url: cluster.url(), stop: () => cluster.stop() };
  });

  it('takes sessions exported from a single Redis (a move), into its bucketed layout', async () => {
    const single = await RedisServer.start();
    try {
      const prefix = randomPrefix();
      const { sc } = await seed(single.url, prefix, false);
      const original = await call(sc.url, 'GET', '/v1/sessions/s-7/events');
      await sc.close();
      const out = await sessions(single.url, ['export', 's-7', 's-8', '--prefix', prefix]);
      expect(records(out.stdout)).toHaveLength(2);
      const into = await sessions(cluster.url(), ['import', '--prefix', prefix], out.stdout);
      expect(into.status).toBe(0);
      const reader = await startSidecar({
        MEMORY_REDIS_URL: cluster.url(),
        MEMORY_KEY_PREFIX: prefix,
      });
      try {
        expect((await call(reader.url, 'GET', '/v1/sessions/s-7/events')).body.events).toEqual(
          original.body.events,
        );
        const back = await sessions(cluster.url(), ['export', '--all', '--prefix', prefix]);
        expect(comparable(back.stdout)).toEqual(comparable(out.stdout));
      } finally {
        await reader.close();
      }
    } finally {
      await single.stop();
    }
  });
});
