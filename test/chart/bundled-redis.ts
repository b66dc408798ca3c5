// The bundled Redis's containers as the chart renders them, run here with a real
// redis-server on its own port and folder and the Secrets mounted as the kubelet mounts
// them (test/chart/redis.test.ts, redis-acl.test.ts, redis-memory.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { processes } from '../../harness/node/exec.js';
import { pollUntil } from '../../harness/poll.js';
import { answersPing } from '../../harness/redis.js';
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

/**
 * What the kubelet makes of a command or argument before the container runs it: `$(NAME)`
 * becomes the variable's value when the container defines it, `$$` becomes `$`, anything
 * else stays (Kubernetes' third_party/forked/golang/expansion). A script that needs a
 * shell's `$$` must write `$$$$`; run here without this, it would pass and fail in a pod.
 */
export function kubeExpand(text: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$' || i + 1 >= text.length) {
      out += text[i];
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 1;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close === -1) {
        out += '$(';
        i += 1;
      } else {
        const name = text.slice(i + 2, close);
        out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
        i = close;
      }
    } else {
      out += '$' + next;
      i += 1;
    }
  }
  return out;
}

/** The `redis` container's script, as its pod runs it, on `port` with its data and config in `dir`. */
export function localScript(container: RedisContainer, port: number, dir: string): string {
  let script = kubeExpand(container.args[0]!, literalEnv(container));
  script = swap(script, 'port=6379', `port=${port}`);
  script = swap(script, 'echo "port $port"', 'echo "port $port"; echo "bind 127.0.0.1"');
  script = swap(script, 'data=/data', `data=${dir}`);
  script = swap(script, '> /tmp/redis.conf', `> ${join(dir, 'redis.conf')}`);
  return swap(script, 'redis-server /tmp/redis.conf', `redis-server ${join(dir, 'redis.conf')}`);
}

/**
 * Runs `script` with `env`; resolves once `password` (as `username`) gets PONG and, given
 * the script's `dataDir`, once the script has cleared its loading marker there
 * (its loop pings once a second): a kill before that counts as a load cut short, as in a pod.
 * A start that never gets there is killed whole.
 */
export async function startScript(
  container: RedisContainer,
  script: string,
  env: NodeJS.ProcessEnv,
  port: number,
  opts: { password?: string; username?: string; dataDir?: string } = {},
): Promise<ChildProcess> {
  const { dataDir, ...auth } = opts;
  // Its own process group, killed whole as a container's processes die with it.
  const child = spawn(container.command[0]!, [...container.command.slice(1), script], {
    env,
    stdio: 'ignore',
    detached: true,
  });
  try {
    await pollUntil(`redis on ${port}`, () => answers(child, port, auth));
    if (dataDir !== undefined) {
      await pollUntil('the loading marker to go', () => !existsSync(join(dataDir, '.loading')));
    }
  } catch (err) {
    await killed(child);
    throw err;
  }
  return child;
}

/** Whether Redis answers PING on `port` with `auth`; fails once the script has exited. */
async function answers(
  child: ChildProcess,
  port: number,
  auth: { password?: string; username?: string },
): Promise<boolean> {
  if (child.exitCode !== null) throw new Error(`redis exited with ${child.exitCode}`);
  return answersPing(port, auth);
}

/**
 * Waits until no process names `dir` on its command line: nothing the script started (its
 * background readiness loop too) outlives the test.
 */
export async function nothingLeftOf(dir: string): Promise<void> {
  await pollUntil(
    `no process left of ${dir}`,
    () => !processes().some((p) => p.cmdline.some((arg) => arg.includes(dir))),
    { timeoutMs: 5_000, intervalMs: 100 },
  );
}

/** SIGKILL to the script's whole process group, as to a container; resolved once it has gone. */
export async function killed(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}
