// Load generators. Closed loop: N callers, each starting its next operation
// when the previous one ends (N keep-alive connections, or N concurrent
// callers on one ioredis connection). Open loop: operations started on a fixed
// schedule whatever the latency, so a slow reply cannot slow the arrival rate.
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import type { Redis } from 'ioredis';
import { withCpu, withRedisCpu } from './cpu.js';
import { Samples, msSince, type Summary } from './stats.js';

export type Op = (caller: number) => Promise<void>;

/** `callers` concurrent loops of `op` for `ms` milliseconds. */
export async function closedLoop(callers: number, ms: number, op: Op): Promise<Summary> {
  const samples = new Samples();
  const started = process.hrtime.bigint();
  const end = Date.now() + ms;
  const loop = async (caller: number) => {
    while (Date.now() < end) {
      const t = process.hrtime.bigint();
      try {
        await op(caller);
        samples.add(msSince(t));
      } catch {
        samples.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, (_, i) => loop(i)));
  return samples.summary(msSince(started) / 1000);
}

export interface OpenLoopResult {
  /** Latency from when the operation was due: includes any lateness of the generator. */
  fromSchedule: Summary;
  /** Latency from when it was actually sent. */
  fromSend: Summary;
}

/** `op` started `rate` times a second on a fixed schedule for `ms` milliseconds. */
export async function openLoop(rate: number, ms: number, op: Op): Promise<OpenLoopResult> {
  const fromSchedule = new Samples();
  const fromSend = new Samples();
  const start = process.hrtime.bigint();
  const interval = 1e9 / rate;
  const total = Math.floor((rate * ms) / 1000);
  const inflight = new Set<Promise<void>>();
  let next = 0;
  while (next < total) {
    const now = Number(process.hrtime.bigint() - start);
    while (next < total && next * interval <= now) {
      const due = start + BigInt(Math.round(next * interval));
      const sent = process.hrtime.bigint();
      const p = op(next).then(
        () => {
          fromSchedule.add(msSince(due));
          fromSend.add(msSince(sent));
        },
        () => {
          fromSchedule.errors++;
          fromSend.errors++;
        },
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      next++;
    }
    const wait = (next * interval - Number(process.hrtime.bigint() - start)) / 1e6;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(wait))));
  }
  await Promise.all(inflight);
  const seconds = ms / 1000;
  return { fromSchedule: fromSchedule.summary(seconds), fromSend: fromSend.summary(seconds) };
}

export interface HttpTarget {
  method: 'GET' | 'POST';
  path: (caller: number) => string;
  body?: string;
  /** The one status that counts as success; any 2xx when absent. */
  status?: number;
}

function succeeded(target: HttpTarget, status: number): boolean {
  return target.status === undefined ? status >= 200 && status < 300 : status === target.status;
}

/**
 * `connections` keep-alive connections for `ms` milliseconds through autocannon
 * (its client is far cheaper per request than node:http's, so more of the two
 * cores is left to the server). Latencies are our own exact samples; a reply
 * with a status `target` does not accept counts as an error. autocannon does not
 * verify TLS certificates.
 */
export function httpClosedLoop(
  port: number,
  connections: number,
  ms: number,
  target: HttpTarget,
  scheme: 'http' | 'https' = 'http',
): Promise<Summary> {
  const samples = new Samples();
  let caller = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${scheme}://127.0.0.1:${port}`,
        connections,
        duration: ms / 1000,
        setupClient: (client) => {
          const path = target.path(caller++);
          client.setRequests([
            {
              method: target.method,
              path,
              headers: target.body ? { 'content-type': 'application/json' } : {},
              ...(target.body ? { body: target.body } : {}),
            },
          ]);
          client.on('response', (status: number, _bytes: number, latency: number) => {
            if (succeeded(target, status)) samples.add(latency);
            else samples.errors++;
          });
        },
      },
      (err: unknown, result: autocannon.Result) => {
        if (err)
          return reject(
            err instanceof Error ? err : new Error('autocannon failed', { cause: err }),
          );
        samples.errors += result.errors + result.timeouts;
        resolve(samples.summary(result.duration));
      },
    );
  });
}

/** One request on a keep-alive agent; rejects on a status `target` does not accept. */
export function httpCall(agent: Agent, port: number, target: HttpTarget, caller: number) {
  return new Promise<void>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: target.method,
        path: target.path(caller),
        headers: target.body ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const s = res.statusCode ?? 0;
          if (succeeded(target, s)) resolve();
          else reject(new Error(`status ${s}`));
        });
      },
    );
    req.on('error', reject);
    req.end(target.body);
  });
}

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/**
 * One closed-loop cell against a sidecar process: `warmupMs` of the same load, then
 * `cellMs` measured, with the sidecar's own CPU time per request (bench/lib/cpu.ts) and,
 * given its client, Redis's.
 */
export async function sidecarCell(
  sidecar: { port: number; proc: { pid: number } },
  connections: number,
  target: HttpTarget,
  { warmupMs, cellMs, redis }: { warmupMs: number; cellMs: number; redis?: Redis },
): Promise<Summary & { cpuUs: number; redisUs: number }> {
  await httpClosedLoop(sidecar.port, connections, warmupMs, target);
  const measured = () =>
    withCpu(sidecar.proc.pid, () => httpClosedLoop(sidecar.port, connections, cellMs, target));
  return redis ? withRedisCpu(redis, measured) : { ...(await measured()), redisUs: NaN };
}
