// A process's own CPU time from /proc/<pid>/stat (utime + stime), so a cell can say
// what each request cost the sidecar: on a busy machine this moves far less than
// requests per second do.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Runs `load` and adds the process's CPU microseconds per completed request. */
export async function withCpu<T extends { count: number }>(
  pid: number,
  load: () => Promise<T>,
): Promise<T & { cpuUs: number }> {
  const before = cpuSeconds(pid);
  const result = await load();
  const cpu = cpuSeconds(pid) - before;
  return { ...result, cpuUs: result.count > 0 ? (cpu / result.count) * 1e6 : NaN };
}

/**
 * Redis's CPU seconds so far (INFO cpu: its main thread and the others, user and system).
 * Every store call's scripts and commands run there, on the one Redis all agents share.
 */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** Runs `load` and adds Redis's CPU microseconds per completed request. */
export async function withRedisCpu<T extends { count: number }>(
  redis: Redis,
  load: () => Promise<T>,
): Promise<T & { redisUs: number }> {
  const before = await redisCpuSeconds(redis);
  const result = await load();
  const cpu = (await redisCpuSeconds(redis)) - before;
  return { ...result, redisUs: result.count > 0 ? (cpu / result.count) * 1e6 : NaN };
}
