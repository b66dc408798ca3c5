// Two builds of the sidecar compared on the request path, interleaved so that a busy
// machine weighs on both alike: `node --import tsx bench/ab.ts BASELINE [CANDIDATE]`,
// each a checkout with a built dist/ (CANDIDATE defaults to this one). For each round
// and build, a fresh sidecar process on one shared redis-server takes appends, then
// reads of 20 events, from each of BENCH_AB_CONNECTIONS (16; a list such as 1,16,64
// measures each in turn) keep-alive connections; the figure that matters is the
// sidecar's own CPU time per request (utime + stime from /proc), which another busy
// process on the machine disturbs far less than requests per second. Each start is
// measured too: spawn to the first /readyz 200 (polled every 5 ms), the CPU the process
// used until then, and its RssAnon a second later; and the highest RssAnon seen under
// the load (sampled every 100 ms). Each sidecar runs with --trace-gc-nvp into a log of its
// own, from which each cell's collector pauses and promoted bytes per request are read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { RedisServer } from '../harness/redis.js';
import { REPO_ROOT } from '../harness/root.js';
import { withCpu, withRedisCpu } from './lib/cpu.js';
import { gcLogMark, gcSince, TRACE_GC } from './lib/gc-log.js';
import { httpClosedLoop, type HttpTarget } from './lib/load.js';
import { sampleMemory } from './lib/memory.js';
import { appendThroughApi } from './lib/seed.js';
import { startSidecar, type Start } from './lib/start.js';
import { median } from './lib/stats.js';
import type { ManagedProcess } from '../harness/process.js';
import { fmt, table } from './lib/table.js';

const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_AB_SECONDS ?? 3);
const CONNECTIONS = (process.env.BENCH_AB_CONNECTIONS ?? '16').split(',').map(Number);

const EVENT = JSON.stringify({ event_type: 'user_message', content: 'x'.repeat(100) });
const OPS: Record<string, HttpTarget> = {
  append: { method: 'POST', path: (c) => `/v1/sessions/append-${c}/events`, body: EVENT },
  read: { method: 'GET', path: (c) => `/v1/sessions/read-${c % 4}/events?limit=20` },
};

interface Measured {
  cpuUs: number;
  /** Redis's own CPU per request (INFO cpu): what the store's commands and scripts cost it. */
  redisUs: number;
  perSecond: number;
  p50: number;
  /** The collector's pauses per request, µs. */
  gcUs: number;
  /** Bytes promoted to the old generation per request. */
  promoted: number;
}

const LOGS = mkdtempSync(join(tmpdir(), 'kaos-ab-'));
let sidecarsStarted = 0;

/** One op from `connections` connections: the sidecar's and Redis's CPU per request. */
async function measureOp(
  sidecar: { port: number; proc: ManagedProcess; log: string },
  redis: Redis,
  connections: number,
  target: HttpTarget,
): Promise<Measured> {
  const load = () => httpClosedLoop(sidecar.port, connections, SECONDS * 1000, target);
  const mark = gcLogMark(sidecar.log);
  const r = await withRedisCpu(redis, () => withCpu(sidecar.proc.pid, load));
  if (r.errors > 0) throw new Error(`${target.method} ${target.path(0)}: ${r.errors} failed`);
  const gc = gcSince(sidecar.log, mark);
  return {
    cpuUs: r.cpuUs,
    redisUs: r.redisUs,
    perSecond: r.perSecond,
    p50: r.p50,
    gcUs: (gc.pauseMs * 1000) / r.count,
    promoted: gc.promotedBytes / r.count,
  };
}

async function measure(root: string, redisUrl: string, redis: Redis) {
  const log = join(LOGS, `sidecar-${sidecarsStarted++}.log`);
  const { proc, port, start } = await startSidecar(
    process.execPath,
    [TRACE_GC, resolve(root, 'dist/cli/main.js'), 'sidecar'],
    { redisUrl, prefix: 'ab', logFile: log },
  );
  try {
    for (let s = 0; s < 4; s++) {
      const events = Array.from({ length: 20 }, () => JSON.parse(EVENT) as unknown);
      await appendThroughApi(`http://127.0.0.1:${port}`, `read-${s}`, events);
    }
    await httpClosedLoop(port, CONNECTIONS[0] ?? 16, 1_000, OPS.append!); // warm-up
    const peak = sampleMemory(proc);
    const out: Record<string, Measured> = {};
    try {
      for (const connections of CONNECTIONS) {
        for (const [name, target] of Object.entries(OPS)) {
          out[`${name} ${connections}`] = await measureOp(
            { port, proc, log },
            redis,
            connections,
            target,
          );
        }
      }
    } finally {
      peak.stop();
    }
    return { ops: out, start, peakAnonMiB: peak.max.anon / 1024 / 1024 };
  } finally {
    await proc.kill();
  }
}

async function main(): Promise<void> {
  const [baseline, candidate = REPO_ROOT] = process.argv.slice(2);
  if (!baseline) throw new Error('usage: bench/ab.ts BASELINE_CHECKOUT [CANDIDATE_CHECKOUT]');
  const builds = { baseline: resolve(baseline), candidate: resolve(candidate) };
  const redis = await RedisServer.start();
  const client = redis.client();
  const results: Record<string, Record<string, { [K in keyof Measured]: number[] }>> = {};
  const starts: Record<string, Start[]> = {};
  const peaks: Record<string, number[]> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = Object.entries(builds);
      if (round % 2 === 1) order.reverse();
      for (const [build, root] of order) {
        const got = await measure(root, redis.url, client);
        (starts[build] ??= []).push(got.start);
        (peaks[build] ??= []).push(got.peakAnonMiB);
        for (const [op, r] of Object.entries(got.ops)) {
          const slot = ((results[op] ??= {})[build] ??= {
            cpuUs: [],
            redisUs: [],
            perSecond: [],
            p50: [],
            gcUs: [],
            promoted: [],
          });
          slot.cpuUs.push(r.cpuUs);
          slot.redisUs.push(r.redisUs);
          slot.perSecond.push(r.perSecond);
          slot.p50.push(r.p50);
          slot.gcUs.push(r.gcUs);
          slot.promoted.push(r.promoted);
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    client.disconnect();
    await redis.stop();
    rmSync(LOGS, { recursive: true, force: true });
  }
  const rows = Object.entries(results).flatMap(([op, byBuild]) => {
    const base = median(byBuild.baseline?.cpuUs ?? []);
    return Object.entries(byBuild).map(([build, r]) => [
      op,
      build,
      median(r.cpuUs).toFixed(1),
      r.cpuUs.map((v) => v.toFixed(0)).join(' '),
      fmt.ratio(median(r.cpuUs) / base),
      median(r.redisUs).toFixed(1),
      fmt.rate(median(r.perSecond)),
      median(r.p50).toFixed(3),
      median(r.gcUs).toFixed(1),
      (median(r.promoted) / 1024).toFixed(2),
    ]);
  });
  console.log(
    `sidecar CPU per request, op and connections, ${SECONDS} s per op, ${ROUNDS} interleaved rounds (medians)\n`,
  );
  console.log(
    table(
      [
        'op',
        'build',
        'CPU µs/request',
        'each round',
        'vs baseline',
        'Redis CPU µs/request',
        'requests/s',
        'p50 ms',
        'GC pauses µs/request',
        'promoted KiB/request',
      ],
      rows,
    ),
  );
  const startRows = Object.entries(starts).map(([build, all]) => {
    const pick = (f: (s: Start) => number) => all.map(f);
    return [
      build,
      median(pick((s) => s.readyMs)).toFixed(0),
      pick((s) => s.readyMs)
        .map((x) => x.toFixed(0))
        .join(' '),
      median(pick((s) => s.cpuMs)).toFixed(0),
      pick((s) => s.cpuMs)
        .map((x) => x.toFixed(0))
        .join(' '),
      median(pick((s) => s.anonMiB)).toFixed(1),
      median(peaks[build] ?? []).toFixed(1),
    ];
  });
  console.log(`\nstart: spawn to the first /readyz 200 (medians of ${ROUNDS})\n`);
  console.log(
    table(
      [
        'build',
        'ms to ready',
        'each round',
        'CPU ms to ready',
        'each round',
        'RssAnon 1 s later, MiB',
        'RssAnon peak under load',
      ],
      startRows,
    ),
  );
}

await main();
