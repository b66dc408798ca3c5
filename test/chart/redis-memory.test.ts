// The bundled Redis bounded by its memory limit (docs/adr/0035-bounded-bundled-redis.md):
// the chart's own `redis` container, run here with a real redis-server and the limit the
// Downward API would give it. maxmemory is the chart's share of that limit with
// noeviction, so a full Redis refuses writes and keeps every key; data that cannot fit a
// lowered limit is never loaded (the container waits, alive, saying why), nor is data
// whose load was cut short twice; the first limit again loads everything.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../harness/poll.js';
import { freePort } from '../../harness/ports.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import {
  killed,
  literalEnv,
  localScript,
  renderedRedis,
  startScript,
  swap,
  type RedisContainer,
} from './bundled-redis.js';

const MEMORY_PASSWORD = 'Mm7' + 'k'.repeat(29);
const ADMIN_PASSWORD = 'Ad9' + 'z'.repeat(37);
const MiB = 1024 * 1024;
const LIMIT = 24 * MiB;

describe('bundled Redis memory', () => {
  let dir = '';
  let port = 0;
  let container: RedisContainer;
  let script = '';
  let env: NodeJS.ProcessEnv = {};
  let proc: ChildProcess | undefined;
  const waitingFile = () => join(dir, 'redis-data-does-not-fit');
  const marker = () => join(dir, '.loading');
  const admin = () =>
    new Redis({ port, username: 'kaos-admin', password: ADMIN_PASSWORD, maxRetriesPerRequest: 0 });
  const memory = () =>
    new Redis({
      port,
      password: MEMORY_PASSWORD,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
    });
  const withLimit = (limit: number) => ({ ...env, REDIS_MEMORY_LIMIT: String(limit) });

  /** The script with `limit`, expected not to start Redis: its output once it waits. */
  async function waits(limit: number): Promise<{ child: ChildProcess; output: string }> {
    rmSync(waitingFile(), { force: true }); // the previous run's note is not this one's
    const child = spawn(container.command[0]!, [...container.command.slice(1), script], {
      env: withLimit(limit),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    // Its note whole: `tee` creates the file before it writes the line.
    let note = '';
    await pollUntil(
      'the script to give up loading',
      () => {
        note = existsSync(waitingFile()) ? readFileSync(waitingFile(), 'utf8') : '';
        return note.endsWith('\n');
      },
      { dead: () => (child.exitCode !== null ? `exited with ${child.exitCode}` : undefined) },
    );
    return { child, output: note + output };
  }

  async function stopWaiting(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0); // the trap: a clean stop, not a crash
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kaos-chart-memory-'));
    port = await freePort();
    [container] = (await renderedRedis(['bundled-redis.yaml'])) as [RedisContainer];
    expect(container.env[0]).toEqual({
      name: 'REDIS_MEMORY_LIMIT',
      valueFrom: { resourceFieldRef: { containerName: 'redis', resource: 'limits.memory' } },
    });
    script = swap(
      localScript(container, port, dir),
      'waiting=/tmp/redis-data-does-not-fit',
      `waiting=${waitingFile()}`,
    );
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
    proc = await startScript(container, script, withLimit(LIMIT), port, {
      password: MEMORY_PASSWORD,
      dataDir: dir,
    });
  });

  afterAll(async () => {
    await killed(proc);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let written = 0;

  it('sets maxmemory to the chart share of the limit, with noeviction', async () => {
    const client = admin();
    try {
      expect(await client.config('GET', 'maxmemory')).toEqual([
        'maxmemory',
        String(Math.floor(LIMIT / 100) * 75),
      ]);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual([
        'maxmemory-policy',
        'noeviction',
      ]);
      expect(await client.config('GET', 'aof-use-rdb-preamble')).toEqual([
        'aof-use-rdb-preamble',
        'yes',
      ]);
    } finally {
      client.disconnect();
    }
    // The load finished: its marker is gone.
    await pollUntil('the loading marker to go', () => !existsSync(marker()));
  });

  it('refuses writes once full (OOM) and keeps every key: nothing evicted', async () => {
    const client = memory();
    const chunk = 'x'.repeat(256 * 1024);
    let refusal: Error | undefined;
    try {
      for (let i = 0; i < 400 && !refusal; i++) {
        await client.rpush(`kaos:memory:events:fill-${i}`, `${i}:${chunk}`).then(
          () => written++,
          (err: Error) => (refusal = err),
        );
      }
      expect(refusal?.message).toMatch(/^OOM command not allowed/);
      expect(written).toBeGreaterThan(20);
      const keys = Array.from({ length: written }, (_, i) => `kaos:memory:events:fill-${i}`);
      expect(await client.exists(...keys)).toBe(written);
    } finally {
      client.disconnect();
    }
  });

  it('does not load data that cannot fit a lowered limit: waits, alive, saying why', async () => {
    await killed(proc); // appendfsync always in the fixture: every acknowledged write is on disk
    const { child, output } = await waits(4 * MiB);
    try {
      expect(output).toMatch(
        /not starting Redis: the data on disk \(\d+ bytes\) is as large as the memory limit \(4194304 bytes\)/,
      );
      expect(output).toMatch(/Raise redis\.resources\.limits\.memory/);
      // Still the shell, never redis-server: nothing listens.
      expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sh');
      expect(
        spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout,
      ).not.toMatch(/PONG/);
      // The liveness probe holds it alive (a restart would not help).
      const [shell, flag, probe] = container.livenessProbe!.exec!.command as [
        string,
        string,
        string,
      ];
      const live = swap(probe, '/tmp/redis-data-does-not-fit', waitingFile());
      expect(spawnSync(shell, [flag, live]).status).toBe(0);
    } finally {
      await stopWaiting(child);
    }
  });

  it('does not try a third load under a limit where two were cut short', async () => {
    writeFileSync(marker(), `${LIMIT} 2\n`);
    const { child, output } = await waits(LIMIT);
    try {
      expect(output).toMatch(/was cut short twice under the memory limit \(25165824 bytes\)/);
    } finally {
      await stopWaiting(child);
    }
  });

  it('tries again after one cut-short load, and the data is all there', async () => {
    writeFileSync(marker(), `${LIMIT} 1\n`);
    proc = await startScript(container, script, withLimit(LIMIT), port, {
      password: MEMORY_PASSWORD,
    });
    expect(existsSync(waitingFile())).toBe(false);
    await pollUntil('the loading marker to go', () => !existsSync(marker()));
    const client = memory();
    try {
      const keys = Array.from({ length: written }, (_, i) => `kaos:memory:events:fill-${i}`);
      expect(await client.exists(...keys)).toBe(written);
    } finally {
      client.disconnect();
    }
  });
});
