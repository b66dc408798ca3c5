// The bundled Redis's containers, taken from the rendered StatefulSet and run here with a
// real redis-server (its own port and folder) and the password Secret mounted as the
// kubelet mounts it: Redis requires a password, which is in no argv and only hashed in its
// config, writes an append-only file, and its readiness probe works; its `auth` container
// follows the Secret through a rotation while connections made with the old password live on.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../harness/ports.js';
import { pollUntil } from '../../harness/poll.js';
import { acceptsPassword } from '../../harness/redis.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import {
  killed,
  nothingLeftOf,
  literalEnv,
  localScript,
  renderedRedis,
  startScript,
  swap,
  type RedisContainer,
} from './bundled-redis.js';

describe('bundled Redis command', () => {
  const password = 'Zx8' + 'q'.repeat(29);
  let dir = '';
  let authDir = '';
  let port = 0;
  let container: RedisContainer;
  let follower: RedisContainer;
  let script = '';
  let proc: ChildProcess | undefined;
  let followerProc: ChildProcess | undefined;
  const admin = 'Ad9' + 'z'.repeat(37);
  let adminDir = '';
  const authEnv = () => ({
    PATH: process.env.PATH,
    ...literalEnv(container),
    REDIS_AUTH_DIR: authDir,
    REDIS_ADMIN_DIR: adminDir,
  });

  async function start(current = password): Promise<void> {
    proc = await startScript(container, script, authEnv(), port, {
      password: current,
      dataDir: dir,
    });
  }

  async function kill(): Promise<void> {
    await killed(proc);
  }

  /** The `auth` container's script, re-reading the Secret every `periodSeconds`. */
  function startFollower(periodSeconds: string) {
    const followerScript = swap(follower.args[0]!, '-p 6379', `-p ${port}`);
    const child = spawn(follower.command[0]!, [...follower.command.slice(1), followerScript], {
      env: { ...authEnv(), REDIS_AUTH_PERIOD_SECONDS: periodSeconds },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    followerProc = child;
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return { child, output: () => output };
  }

  /** Leaves `kept` alone in the Secret; resolves once Redis refuses `dropped` and takes `kept`. */
  async function keepOnly(kept: string, dropped: string): Promise<void> {
    writeSecretVolume(authDir, { 'redis-password': kept });
    await pollUntil(
      'Redis to refuse the dropped password',
      async () => !(await acceptsPassword(port, dropped)),
    );
    expect(await acceptsPassword(port, kept)).toBe(true);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kaos-chart-redis-'));
    authDir = join(dir, 'auth');
    adminDir = join(dir, 'admin');
    writeSecretVolume(authDir, { 'redis-password': password });
    writeSecretVolume(adminDir, { 'admin-password': admin });
    port = await freePort();
    // appendfsync always in this fixture: a write acknowledged before a kill -9 survives it.
    [container, follower] = (await renderedRedis(['bundled-redis.yaml'])) as [
      RedisContainer,
      RedisContainer,
    ];
    expect(container.env.map((e) => e.name)).toEqual([
      'REDIS_MEMORY_LIMIT',
      'REDIS_AUTH_DIR',
      'REDIS_AUTH_KEY',
      'REDIS_ADMIN_DIR',
      'REDIS_ADMIN_KEY',
      'REDIS_ADMIN_USER',
      'REDIS_MEMORY_ACL',
      'REDIS_ADMIN_ACL',
      'REDISCLI_AUTH',
    ]);
    expect(follower.name).toBe('auth');
    script = localScript(container, port, dir);
    await start();
  });

  afterAll(async () => {
    followerProc?.kill('SIGKILL');
    await kill();
    if (dir) await nothingLeftOf(dir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('requires the password from the Secret, which is in no argv and only hashed in the config', () => {
    const anonymous = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'get', 'x'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(anonymous.stdout + anonymous.stderr).toMatch(/NOAUTH/);
    const cmdline = readFileSync(`/proc/${proc!.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('redis-server'); // sh exec'd into it: signals reach Redis
    expect(cmdline).not.toContain(password);
    expect(statSync(join(dir, 'redis.conf')).mode & 0o077).toBe(0);
    const config = readFileSync(join(dir, 'redis.conf'), 'utf8');
    expect(config).not.toContain(password);
    expect(config).toMatch(/^aclfile .*users\.acl$/m);
    expect(statSync(join(dir, 'users.acl')).mode & 0o077).toBe(0);
    const users = readFileSync(join(dir, 'users.acl'), 'utf8');
    expect(users).not.toContain(password);
    expect(users).not.toContain(admin);
    expect(users).toMatch(
      /^user default on #[0-9a-f]{64} resetkeys ~kaos:memory:\* resetchannels -@all /m,
    );
    expect(users).toMatch(/^user kaos-admin on #[0-9a-f]{64} ~\* &\* \+@all$/m);
  });

  it('runs with an append-only file that survives kill -9', async () => {
    const client = new Redis({ port, username: 'kaos-admin', password: admin });
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    // As the memory user, with a command of the session layout.
    const writer = new Redis({ port, password });
    expect(await writer.rpush('kaos:memory:events:probe', 'kept')).toBe(1);
    writer.disconnect();
    client.disconnect();
    expect(existsSync(join(dir, 'appendonlydir'))).toBe(true);
    await kill();
    await start();
    const again = new Redis({ port, password });
    expect(await again.lrange('kaos:memory:events:probe', 0, -1)).toEqual(['kept']);
    again.disconnect();
  });

  it('passes its readiness probe with the mounted password, and fails it without', () => {
    const [shell, flag, probe] = container.readinessProbe!.exec.command as [string, string, string];
    const command = swap(probe, '-h 127.0.0.1', `-h 127.0.0.1 -p ${port}`);
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(shell, [flag, command], { env, timeout: 10_000 });
    expect(run(authEnv()).status).toBe(0);
    expect(run({ ...authEnv(), REDIS_AUTH_DIR: join(dir, 'nowhere') }).status).not.toBe(0);
  });

  it('follows the Secret through a rotation: old and new both accepted while it runs', async () => {
    const next = 'Nw4' + 'r'.repeat(29);
    const env = Object.fromEntries(follower.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ REDIS_AUTH_KEY: 'redis-password' });
    const { child, output } = startFollower('0.2');
    // A client connected with the old password, as a running sidecar is.
    const running = new Redis({ port, password });
    await pollUntil('the follower to apply the Secret', () =>
      output().includes('1 memory and 1 admin password(s)'),
    );

    // 1. A second password beside the first.
    writeSecretVolume(authDir, { 'redis-password': password, 'redis-password-next': next });
    await pollUntil('Redis to accept the next password', () => acceptsPassword(port, next));
    expect(await acceptsPassword(port, password)).toBe(true);
    // 2. The new one is current, the old one still accepted.
    writeSecretVolume(authDir, { 'redis-password': next, 'redis-password-previous': password });
    await new Promise((r) => setTimeout(r, 600));
    expect(await acceptsPassword(port, next)).toBe(true);
    expect(await acceptsPassword(port, password)).toBe(true);
    // 3. The old one dropped: new connections need the new one; the old connection lives on.
    await keepOnly(next, password);
    expect(await running.rpush('kaos:memory:events:during-rotation', 'kept')).toBe(1);
    running.disconnect();
    expect(output()).not.toContain(password);
    expect(output()).not.toContain(next);

    // A restart writes its config from the Secret as it is now.
    await kill();
    await start(next);
    expect(await acceptsPassword(port, password)).toBe(false);

    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM'); // the trap ends it at once, not after a sleep
    expect(await exited).toBe(0);
  });

  it('reads one version of the Secret at a time, never a mix of two the kubelet swaps between', async () => {
    // Two versions that hold the same two passwords under other keys, as steps 1 and 2 of a
    // rotation do: any single version gives Redis both, and only a read that mixes the two
    // (a key from one, the rest from the other) gives it one, so Redis refuses the other.
    const a = 'Aa1' + 'a'.repeat(29);
    const b = 'Bb2' + 'b'.repeat(29);
    const versions: Record<string, string>[] = [
      { 'redis-password': a, 'redis-password-next': b },
      { 'redis-password': b, 'redis-password-previous': a },
    ];
    writeSecretVolume(authDir, versions[0]!);
    const { child, output } = startFollower('0.01');
    await pollUntil('the follower to apply the Secret', () =>
      output().includes('2 memory and 1 admin password(s)'),
    );
    // The kubelet's swaps, far more often than it makes them, while the follower reads.
    const until = Date.now() + 4_000;
    for (let i = 1; Date.now() < until; i++) {
      writeSecretVolume(authDir, versions[i % 2]!);
      await new Promise((r) => setTimeout(r, 2));
    }
    const applied = output()
      .split('\n')
      .filter((line) => line.startsWith('redis accepts'));
    expect(applied).toEqual(['redis accepts 2 memory and 1 admin password(s) from the Secrets']);
    expect(await acceptsPassword(port, a)).toBe(true);
    expect(await acceptsPassword(port, b)).toBe(true);
    // And it still follows once the swaps stop: a rereading loop must not spin forever.
    await keepOnly(b, a);
    child.kill('SIGTERM');
  });
});
