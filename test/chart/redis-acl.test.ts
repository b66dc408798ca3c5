// The bundled Redis's ACL users (docs/adr/0034-least-privilege.md), checked against the
// real sidecar, the operator CLI and the Python RedisMemory layout: the chart's own
// `redis` container runs here with its rendered users, everything a pod does is done as
// the memory user (the password pods get), and whatever issue 21's attacker did with it
// answers NOPERM. The admin user, whose password only Redis mounts, can do everything,
// and the users (and any user kept with ACL SAVE) survive a restart.
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { closeRedis } from '../../memory/connection.js';
import { openStore, parseInvocation, runCommand, type Invocation } from '../../ops/main.js';
import {
  killed,
  nothingLeftOf,
  literalEnv,
  localScript,
  renderedRedis,
  startScript,
  type RedisContainer,
} from './bundled-redis.js';

const MEMORY_PASSWORD = 'Mm7' + 'k'.repeat(29);
const ADMIN_PASSWORD = 'Ad9' + 'z'.repeat(37);
const PREFIX = 'kaos:memory'; // the chart's sidecar.keyPrefix
const AGENT = 'kaos://agent/agents/memory-agent';
const DRIVER = new URL('../interop/kaos_redis.py', import.meta.url).pathname;

let dir = '';
let port = 0;
let container: RedisContainer;
let script = '';
let env: NodeJS.ProcessEnv = {};
let proc: ChildProcess | undefined;
let sc: RunningSidecar | undefined;

const memory = () =>
  new Redis({ port, password: MEMORY_PASSWORD, maxRetriesPerRequest: 0, enableReadyCheck: false });
const admin = () =>
  new Redis({ port, username: 'kaos-admin', password: ADMIN_PASSWORD, maxRetriesPerRequest: 0 });

async function start(): Promise<void> {
  proc = await startScript(container, script, env, port, {
    password: MEMORY_PASSWORD,
    dataDir: dir,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kaos-chart-acl-'));
  port = await freePort();
  [container] = (await renderedRedis(['bundled-redis.yaml'])) as [RedisContainer];
  script = localScript(container, port, dir);
  const authDir = join(dir, 'auth');
  const adminDir = join(dir, 'admin');
  writeSecretVolume(authDir, { 'redis-password': MEMORY_PASSWORD });
  writeSecretVolume(adminDir, { 'admin-password': ADMIN_PASSWORD });
  env = {
    PATH: process.env.PATH,
    ...literalEnv(container),
    REDIS_AUTH_DIR: authDir,
    REDIS_ADMIN_DIR: adminDir,
  };
  await start();
  sc = await startSidecar({
    MEMORY_REDIS_URL: `redis://127.0.0.1:${port}`,
    MEMORY_REDIS_PASSWORD: MEMORY_PASSWORD,
    MEMORY_KEY_PREFIX: PREFIX,
    MEMORY_SESSION_TTL_SECONDS: '3600',
    AGENT_IDENTITY: AGENT,
  });
});

afterAll(async () => {
  await sc?.close();
  await killed(proc);
  if (dir) await nothingLeftOf(dir);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One `kaos-memory sessions …` in this process, as the memory user. */
async function sessions(argv: string[], stdin = ''): Promise<{ status: number; stdout: string }> {
  const inv = parseInvocation(argv) as Invocation;
  const { redis, store } = await openStore(inv, {
    MEMORY_REDIS_URL: `redis://127.0.0.1:${port}`,
    MEMORY_REDIS_PASSWORD: MEMORY_PASSWORD,
    MEMORY_KEY_PREFIX: PREFIX,
  });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  try {
    const status = await runCommand(inv, store, {
      stdin: Readable.from([stdin]),
      stdout,
      stderr: new PassThrough(),
      progress: new PassThrough(),
    });
    return { status, stdout: Buffer.concat(chunks).toString('utf8') };
  } finally {
    await closeRedis(redis);
  }
}

/** A command by redis-cli as `user` (the memory user unless told): its output. */
function cli(args: string[], user?: { name: string; password: string }): string {
  const ran = spawnSync(
    'redis-cli',
    [
      '--no-auth-warning',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      ...(user ? ['--user', user.name] : []),
      ...args,
    ],
    {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: process.env.PATH, REDISCLI_AUTH: user?.password ?? MEMORY_PASSWORD },
    },
  );
  return (ran.stdout + ran.stderr).trim();
}

describe('the memory user: everything a pod does', () => {
  it('is the user a password alone authenticates as, and it is not the admin', () => {
    // ACL WHOAMI is refused too: the user cannot even ask.
    expect(cli(['ACL', 'WHOAMI'])).toMatch(/^NOPERM/);
    expect(cli(['ACL', 'WHOAMI'], { name: 'kaos-admin', password: ADMIN_PASSWORD })).toBe(
      'kaos-admin',
    );
    expect(cli(['PING'], { name: 'kaos-admin', password: MEMORY_PASSWORD })).toMatch(/WRONGPASS/);
  });

  it('serves the sidecar: create, append (with ids), read, context, list, hold, delete, erase', async () => {
    const url = sc!.url;
    const created = await call(url, 'POST', '/v1/sessions', { session_id: 's1', user_id: 'alice' });
    expect(created.status).toBe(201);
    const appended = await call(url, 'POST', '/v1/sessions/s1/events', [
      { event_type: 'user_message', content: 'hello', event_id: 'e1' },
      { event_type: 'agent_response', content: 'hi', event_id: 'e2' },
    ]);
    expect(appended.status, appended.text).toBe(201);
    const again = await call(url, 'POST', '/v1/sessions/s1/events', [
      { event_type: 'user_message', content: 'hello', event_id: 'e1' },
    ]);
    expect(again.status, again.text).toBeLessThan(300);
    const events = await call(url, 'GET', '/v1/sessions/s1/events?types=user_message');
    expect(events.status, events.text).toBe(200);
    expect(events.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['e1']);
    const context = await call(url, 'GET', '/v1/sessions/s1/context');
    expect(context.status, context.text).toBe(200);
    const kaos = await call(url, 'GET', '/memory/events?session_id=s1');
    expect(kaos.status, kaos.text).toBe(200);
    for (const path of ['/v1/sessions', '/v1/sessions?user_id=alice', '/memory/sessions']) {
      const listed = await call(url, 'GET', path);
      expect(listed.status, `${path}: ${listed.text}`).toBe(200);
      expect(listed.text).toContain('s1');
    }
    const summary = await call(url, 'GET', '/v1/sessions/s1/summaries');
    expect(summary.status, summary.text).toBeLessThan(500);
    expect((await call(url, 'GET', '/readyz')).status).toBe(200);

    await call(url, 'POST', '/v1/sessions/s2/events', [
      { event_type: 'user_message', content: 'bye' },
    ]);
    const removed = await call(url, 'DELETE', '/v1/sessions/s2');
    expect(removed.status, removed.text).toBeLessThan(300);
    await call(url, 'POST', '/v1/sessions', { session_id: 'b1', user_id: 'bob' });
    await call(url, 'POST', '/v1/sessions', { session_id: 'b2', user_id: 'bob' });
    const erased = await call(url, 'DELETE', '/v1/sessions?user_id=bob');
    expect(erased.status, erased.text).toBe(200);
    expect(erased.body.deleted).toBe(2);
  });

  it('serves memory v2: write, recall, list, forget', async () => {
    const attribution = {
      principal: 'alice',
      agent_client_id: AGENT,
      session_id: 'v2s',
    };
    const write = await call(sc!.url, 'POST', '/v1/write', {
      attribution,
      turns: [
        { role: 'user', content: 'I like tea' },
        { role: 'assistant', content: 'Noted' },
      ],
      infer: false,
    });
    expect(write.status, write.text).toBe(200);
    const scope = { kind: 'session', id: 'v2s' };
    for (const [path, body] of [
      ['/v1/recall', { attribution, scope, query: 'tea' }],
      ['/v1/list', { attribution, scope }],
      ['/v1/forget', { attribution, scope }],
    ] as const) {
      const reply = await call(sc!.url, 'POST', path, body);
      expect(reply.status, `${path}: ${reply.text}`).toBeLessThan(500);
    }
  });

  it('serves the operator CLI: list, export, import, erase', async () => {
    expect((await sessions(['list'])).status).toBe(0);
    const exported = await sessions(['export', '--all']);
    expect(exported.status).toBe(0);
    expect(exported.stdout).toContain('"s1"');
    const line = exported.stdout.split('\n').find((l) => l.includes('"s1"'))!;
    const moved = line.replaceAll('"s1"', '"imported"');
    expect((await sessions(['import'], moved + '\n')).status).toBe(0);
    expect((await sessions(['show', 'imported'])).status).toBe(0);
    expect((await sessions(['erase', '--user', 'alice'])).status).toBe(0);
  });

  it('serves the Python RedisMemory layout, both ways', async () => {
    const py = async (...commands: object[]): Promise<any[]> => {
      // Debian's python3 with python3-redis (scripts/ensure-redis.sh), as test/interop does.
      const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
      const child = promisify(execFile)(python, [DRIVER], { encoding: 'utf8' });
      child.child.stdin?.end(
        JSON.stringify({
          url: `redis://:${MEMORY_PASSWORD}@127.0.0.1:${port}`,
          prefix: PREFIX,
          commands,
        }),
      );
      return JSON.parse((await child).stdout) as any[];
    };
    const [written] = await py({
      command: 'write',
      session_id: 'py1',
      events: [{ event_type: 'user_message', content: '"from python"' }],
    });
    expect(written.ids).toHaveLength(1);
    const read = await call(sc!.url, 'GET', '/v1/sessions/py1/events');
    expect(read.status, read.text).toBe(200);
    expect(read.body.events[0].content).toBe('from python');
    await call(sc!.url, 'POST', '/v1/sessions/py1/events', [
      { event_type: 'agent_response', content: 'from the sidecar' },
    ]);
    const [events, listed, context] = await py(
      { command: 'read', session_id: 'py1' },
      { command: 'list' },
      { command: 'context', session_id: 'py1' },
    );
    expect(events.map((e: { content: string }) => e.content)).toEqual([
      '"from python"',
      '"from the sidecar"',
    ]);
    expect(listed).toContain('py1');
    expect(context).toContain('Assistant: from the sidecar');
  });
});

describe('the memory user: what issue 21 did with it is refused', () => {
  const refused: [string, string[]][] = [
    ['MONITOR', ['MONITOR']],
    ['REPLICAOF', ['REPLICAOF', '127.0.0.1', '1']],
    ['SLAVEOF', ['SLAVEOF', '127.0.0.1', '1']],
    ['CONFIG GET', ['CONFIG', 'GET', 'maxmemory']],
    ['CONFIG SET', ['CONFIG', 'SET', 'maxmemory', '1']],
    ['ACL SETUSER', ['ACL', 'SETUSER', 'default', 'resetpass']],
    ['ACL LIST', ['ACL', 'LIST']],
    ['FLUSHALL', ['FLUSHALL']],
    ['FLUSHDB', ['FLUSHDB']],
    ['KEYS', ['KEYS', '*']],
    ['SCAN', ['SCAN', '0']],
    ['DEBUG', ['DEBUG', 'SLEEP', '0']],
    ['SHUTDOWN', ['SHUTDOWN', 'NOSAVE']],
    ['CLIENT KILL', ['CLIENT', 'KILL', 'ID', '1']],
    ['CLIENT LIST', ['CLIENT', 'LIST']],
    ['SCRIPT FLUSH', ['SCRIPT', 'FLUSH']],
    ['FUNCTION FLUSH', ['FUNCTION', 'FLUSH']],
    ['SAVE', ['SAVE']],
    ['BGREWRITEAOF', ['BGREWRITEAOF']],
    ['MIGRATE', ['MIGRATE', '127.0.0.1', '1', 'k', '0', '1']],
    ['PUBLISH', ['PUBLISH', 'kaos:memory:x', 'y']],
    ['SWAPDB', ['SWAPDB', '0', '1']],
    ['MODULE LIST', ['MODULE', 'LIST']],
  ];

  it.each(refused)('%s answers NOPERM', (name, args) => {
    // DEBUG is refused before the ACL by enable-debug-command (off by default): the ACL's
    // own answer is asked of ACL DRYRUN, for every command.
    if (name !== 'DEBUG') expect(cli(args)).toMatch(/^NOPERM/);
    const admin = { name: 'kaos-admin', password: ADMIN_PASSWORD };
    expect(cli(['ACL', 'DRYRUN', 'default', ...args], admin)).toMatch(/no permissions/);
  });

  it('reaches no key outside the memory prefix: not the tenants', async () => {
    const client = memory();
    try {
      for (const key of ['other', 'kaos:tenant:team-a:session:x', 'kaos:memoryx:session:x']) {
        await expect(client.get(key)).rejects.toThrow(/NOPERM/);
        await expect(client.hgetall(key)).rejects.toThrow(/NOPERM/);
        await expect(client.del(key)).rejects.toThrow(/NOPERM/);
        // Nor through a script.
        await expect(client.eval("return redis.call('EXISTS', KEYS[1])", 1, key)).rejects.toThrow(
          /NOPERM/,
        );
      }
      expect(await client.exists(`${PREFIX}:session:py1`)).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});

describe('the admin user', () => {
  it('can do everything, and the server is still the same one after all the refusals', async () => {
    const client = admin();
    try {
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.call('ACL', 'WHOAMI')).toBe('kaos-admin');
      expect(await client.exists(`${PREFIX}:session:py1`)).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('a restart keeps both users from the Secrets and any user kept with ACL SAVE', async () => {
    const client = admin();
    await client.call(
      'ACL',
      'SETUSER',
      'kaos-tenant-team-a',
      'on',
      '>tenant-pw',
      '~kaos:tenant:team-a:*',
      '+get',
    );
    await client.call('ACL', 'SAVE');
    client.disconnect();
    const file = readFileSync(join(dir, 'users.acl'), 'utf8');
    expect(file).not.toContain(MEMORY_PASSWORD);
    expect(file).not.toContain(ADMIN_PASSWORD);
    await killed(proc);
    await start();
    const after = admin();
    try {
      const users = (await after.call('ACL', 'LIST')) as string[];
      expect(users.map((u) => u.split(' ')[1]).sort()).toEqual([
        'default',
        'kaos-admin',
        'kaos-tenant-team-a',
      ]);
      expect(users.find((u) => u.startsWith('user default '))).toMatch(/~kaos:memory:\*/);
    } finally {
      after.disconnect();
    }
    expect(cli(['FLUSHALL'])).toMatch(/^NOPERM/);
  });
});
