// The bundled Redis's container command, taken from the rendered StatefulSet and run
// here with a real redis-server (its own port and folder): it requires the password,
// keeps it out of argv, writes an append-only file, and its readiness probe works.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../harness/ports.js';
import { pollUntil } from '../../harness/poll.js';
import { find, parseManifests, template } from './helm.js';

interface RedisContainer {
  command: string[];
  args: string[];
  env: { name: string }[];
  readinessProbe: { exec: { command: string[] } };
}

async function renderedRedis(files: string[]): Promise<RedisContainer> {
  const result = await template(files);
  expect(result.code, result.stderr).toBe(0);
  const statefulSet = find(parseManifests(result.stdout), 'StatefulSet') as unknown as {
    spec: { template: { spec: { containers: RedisContainer[] } } };
  };
  return statefulSet.spec.template.spec.containers[0]!;
}

/** Swap one literal for another, failing when the script no longer holds it exactly once. */
function swap(text: string, from: string, to: string): string {
  expect(text.split(from), `"${from}" in the Redis script`).toHaveLength(2);
  return text.replace(from, to);
}

describe('bundled Redis command', () => {
  const password = 'Zx8' + 'q'.repeat(29);
  let dir = '';
  let port = 0;
  let container: RedisContainer;
  let script = '';
  let proc: ChildProcess | undefined;

  async function start(): Promise<void> {
    const child = spawn(container.command[0]!, [...container.command.slice(1), script], {
      env: { PATH: process.env.PATH, REDIS_PASSWORD: password },
      stdio: 'ignore',
    });
    proc = child;
    await pollUntil(`redis on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis exited with ${child.exitCode}`);
      const client = new Redis({ port, password, lazyConnect: true, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } finally {
        client.disconnect();
      }
    });
  }

  async function kill(): Promise<void> {
    const child = proc;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kaos-chart-redis-'));
    port = await freePort();
    // appendfsync always in this fixture: a write acknowledged before a kill -9 survives it.
    container = await renderedRedis(['bundled-redis.yaml']);
    expect(container.env.map((e) => e.name)).toEqual(['REDIS_PASSWORD', 'REDISCLI_AUTH']);
    script = swap(
      container.args[0]!,
      'echo "port 6379"',
      `echo "port ${port}"; echo "bind 127.0.0.1"`,
    );
    script = swap(script, 'dir /data', `dir ${dir}`);
    script = swap(script, '> /tmp/redis.conf', `> ${join(dir, 'redis.conf')}`);
    script = swap(
      script,
      'redis-server /tmp/redis.conf',
      `redis-server ${join(dir, 'redis.conf')}`,
    );
    await start();
  });

  afterAll(async () => {
    await kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('requires the password from the Secret, which stays out of argv and out of reach', () => {
    const anonymous = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'get', 'x'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(anonymous.stdout + anonymous.stderr).toMatch(/NOAUTH/);
    const cmdline = readFileSync(`/proc/${proc!.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('redis-server'); // sh exec'd into it: signals reach Redis
    expect(cmdline).not.toContain(password);
    expect(statSync(join(dir, 'redis.conf')).mode & 0o077).toBe(0);
  });

  it('runs with an append-only file that survives kill -9', async () => {
    const client = new Redis({ port, password });
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    await client.set('kaos:memory:probe', 'kept');
    client.disconnect();
    expect(existsSync(join(dir, 'appendonlydir'))).toBe(true);
    await kill();
    await start();
    const again = new Redis({ port, password });
    expect(await again.get('kaos:memory:probe')).toBe('kept');
    again.disconnect();
  });

  it('passes its readiness probe with REDISCLI_AUTH, and fails it without', () => {
    const [shell, flag, probe] = container.readinessProbe.exec.command as [string, string, string];
    const command = swap(probe, '-h 127.0.0.1', `-h 127.0.0.1 -p ${port}`);
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(shell, [flag, command], {
        env: { PATH: process.env.PATH, ...env },
        timeout: 10_000,
      });
    expect(run({ REDISCLI_AUTH: password }).status).toBe(0);
    expect(run({}).status).not.toBe(0);
  });
});
