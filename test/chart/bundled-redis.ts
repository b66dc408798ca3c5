// The bundled Redis's containers as the chart renders them, run here with a real
// redis-server on its own port and folder and the Secrets mounted as the kubelet mounts
// them (test/chart/redis.test.ts, redis-acl.test.ts, redis-memory.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { pollUntil } from '../../harness/poll.js';
import { find, parseManifests, template } from './helm.js';

export interface RedisContainer {
  name: string;
  command: string[];
  args: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  readinessProbe?: { exec: { command: string[] } };
  livenessProbe?: { exec?: { command: string[] }; tcpSocket?: unknown };
}

export async function renderedRedis(
  files: string[],
  sets: string[] = [],
): Promise<RedisContainer[]> {
  const result = await template(files, sets);
  expect(result.code, result.stderr).toBe(0);
  const statefulSet = find(parseManifests(result.stdout), 'StatefulSet') as unknown as {
    spec: { template: { spec: { containers: RedisContainer[] } } };
  };
  return statefulSet.spec.template.spec.containers;
}

/** Swap one literal for another, failing when the script no longer holds it exactly once. */
export function swap(text: string, from: string, to: string): string {
  expect(text.split(from), `"${from}" in the Redis script`).toHaveLength(2);
  return text.replace(from, to);
}

/** The container's literal env values (valueFrom entries left out). */
export function literalEnv(container: RedisContainer): Record<string, string> {
  return Object.fromEntries(
    container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
  );
}

/** The `redis` container's script, on `port` with its data and config in `dir`. */
export function localScript(container: RedisContainer, port: number, dir: string): string {
  let script = swap(container.args[0]!, 'port=6379', `port=${port}`);
  script = swap(script, 'echo "port $port"', 'echo "port $port"; echo "bind 127.0.0.1"');
  script = swap(script, 'data=/data', `data=${dir}`);
  script = swap(script, '> /tmp/redis.conf', `> ${join(dir, 'redis.conf')}`);
  return swap(script, 'redis-server /tmp/redis.conf', `redis-server ${join(dir, 'redis.conf')}`);
}

/** Runs `script` with `env`; resolves once `auth.password` (as `auth.username`) gets PONG. */
export async function startScript(
  container: RedisContainer,
  script: string,
  env: NodeJS.ProcessEnv,
  port: number,
  auth: { password?: string; username?: string } = {},
): Promise<ChildProcess> {
  const child = spawn(container.command[0]!, [...container.command.slice(1), script], {
    env,
    stdio: 'ignore',
  });
  await pollUntil(`redis on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`redis exited with ${child.exitCode}`);
    const client = new Redis({
      port,
      ...auth,
      lazyConnect: true,
      retryStrategy: () => null,
      enableReadyCheck: false,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  });
  return child;
}

/**
 * Waits until no process names `dir` on its command line: the script's processes (its
 * background readiness loop too) end with the Redis they started. A container would
 * take them down with it; run here, they would outlive the test.
 */
export async function nothingLeftOf(dir: string): Promise<void> {
  const naming = () =>
    readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false; // gone meanwhile
        }
      });
  await pollUntil(`no process left of ${dir}`, () => naming().length === 0, {
    timeoutMs: 5_000,
    intervalMs: 100,
  });
}

/** SIGKILL, resolved once the process has gone. */
export async function killed(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
