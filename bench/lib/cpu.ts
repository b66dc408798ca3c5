// A process's own CPU time from /proc/<pid>/stat (utime + stime), so a cell can say
// what each request cost the sidecar: on a busy machine this moves far less than
// requests per second do.
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { ManagedProcess } from '../../harness/process.js';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** The fields of /proc/<pid>/stat after the command's name (state is [0], utime [11]). */
function statFields(pid: number | 'self'): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
}

/** CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds this process's children used, those it has waited for (cutime + cstime). */
export function childrenCpuSeconds(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / TICKS;
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

/** What a process costs while nothing asks anything of it. */
export interface IdleCost {
  /** CPU milliseconds per second, all its threads (schedstat: nanoseconds, not 10 ms ticks). */
  cpuMsPerS: number;
  /** Times per second its main thread woke from sleep (voluntary context switches). */
  wakeupsPerS: number;
}

/** CPU nanoseconds the process's threads have used so far (schedstat: exact, not in ticks). */
export function threadCpuNs(pid: number): number {
  let cpuNs = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNs += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended since the listing: its time is no longer counted anywhere.
    }
  }
  return cpuNs;
}

function idleCounters(proc: ManagedProcess): { cpuNs: number; wakeups: number } {
  return { cpuNs: threadCpuNs(proc.pid), wakeups: proc.wakeups() };
}

/**
 * The processes' idle cost over the same `ms`: every agent pod pays it all day, whether
 * its agent talks or not (timers that fire when nothing happens, a collector's threads).
 */
export async function idleCost<const P extends readonly ManagedProcess[]>(
  procs: P,
  ms: number,
): Promise<{ [K in keyof P]: IdleCost }> {
  const before = procs.map(idleCounters);
  await new Promise((r) => setTimeout(r, ms));
  return procs.map((proc, i): IdleCost => {
    const after = idleCounters(proc);
    const b = before[i] as { cpuNs: number; wakeups: number };
    return {
      cpuMsPerS: (after.cpuNs - b.cpuNs) / 1e6 / (ms / 1000),
      wakeupsPerS: (after.wakeups - b.wakeups) / (ms / 1000),
    };
  }) as { [K in keyof P]: IdleCost };
}
