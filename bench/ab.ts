// Two builds of the sidecar compared on the request path, interleaved so that a busy
// machine weighs on both alike: `node --import tsx bench/ab.ts BASELINE [CANDIDATE]`,
// each a checkout with a built dist/ (CANDIDATE defaults to this one). For each round
// and build, a fresh sidecar process on one shared redis-server takes appends, then
// reads of 20 events, from BENCH_AB_CONNECTIONS (16) keep-alive connections; the
// figure that matters is the sidecar's own CPU time per request (utime + stime from
// /proc), which another busy process on the machine disturbs far less than requests
// per second. Each start is measured too: spawn to the first /readyz 200 (polled every
// 5 ms), the CPU the process used until then, and its RssAnon a second later.
import { resolve } from 'node:path';
import { RedisServer } from '../harness/redis.js';
import { REPO_ROOT } from '../harness/root.js';
import { cpuSeconds } from './lib/cpu.js';
import { httpClosedLoop, type HttpTarget } from './lib/load.js';
import { startSidecar, type Start } from './lib/start.js';
import { median } from './lib/stats.js';
import { fmt, table } from './lib/table.js';

const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_AB_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_AB_CONNECTIONS ?? 16);

const EVENT = JSON.stringify({ event_type: 'user_message', content: 'x'.repeat(100) });
const OPS: Record<string, HttpTarget> = {
  append: { method: 'POST', path: (c) => `/v1/sessions/append-${c}/events`, body: EVENT },
  read: { method: 'GET', path: (c) => `/v1/sessions/read-${c % 4}/events?limit=20` },
};

async function measure(root: string, redisUrl: string) {
  const { proc, port, start } = await startSidecar(
    process.execPath,
    [resolve(root, 'dist/cli/main.js'), 'sidecar'],
    { redisUrl, prefix: 'ab' },
  );
  try {
    for (let s = 0; s < 4; s++) {
      const events = Array.from({ length: 20 }, () => JSON.parse(EVENT) as unknown);
      await fetch(`http://127.0.0.1:${port}/v1/sessions/read-${s}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(events),
      });
    }
    await httpClosedLoop(port, CONNECTIONS, 1_000, OPS.append!); // warm-up
    const out: Record<string, { cpuUs: number; perSecond: number }> = {};
    for (const [name, target] of Object.entries(OPS)) {
      const before = cpuSeconds(proc.pid);
      const summary = await httpClosedLoop(port, CONNECTIONS, SECONDS * 1000, target);
      const cpu = cpuSeconds(proc.pid) - before;
      if (summary.errors > 0) throw new Error(`${name}: ${summary.errors} failed requests`);
      out[name] = { cpuUs: (cpu / summary.count) * 1e6, perSecond: summary.perSecond };
    }
    return { ops: out, start };
  } finally {
    await proc.kill();
  }
}

async function main(): Promise<void> {
  const [baseline, candidate = REPO_ROOT] = process.argv.slice(2);
  if (!baseline) throw new Error('usage: bench/ab.ts BASELINE_CHECKOUT [CANDIDATE_CHECKOUT]');
  const builds = { baseline: resolve(baseline), candidate: resolve(candidate) };
  const redis = await RedisServer.start();
  const results: Record<string, Record<string, { cpuUs: number[]; perSecond: number[] }>> = {};
  const starts: Record<string, Start[]> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = Object.entries(builds);
      if (round % 2 === 1) order.reverse();
      for (const [build, root] of order) {
        const got = await measure(root, redis.url);
        (starts[build] ??= []).push(got.start);
        for (const [op, r] of Object.entries(got.ops)) {
          const slot = ((results[op] ??= {})[build] ??= { cpuUs: [], perSecond: [] });
          slot.cpuUs.push(r.cpuUs);
          slot.perSecond.push(r.perSecond);
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await redis.stop();
  }
  const rows = Object.entries(results).flatMap(([op, byBuild]) => {
    const base = median(byBuild.baseline?.cpuUs ?? []);
    return Object.entries(byBuild).map(([build, r]) => [
      op,
      build,
      median(r.cpuUs).toFixed(1),
      r.cpuUs.map((v) => v.toFixed(0)).join(' '),
      fmt.ratio(median(r.cpuUs) / base),
      fmt.rate(median(r.perSecond)),
    ]);
  });
  console.log(
    `sidecar CPU per request, ${CONNECTIONS} connections, ${SECONDS} s per op, ${ROUNDS} interleaved rounds (medians)\n`,
  );
  console.log(
    table(['op', 'build', 'CPU µs/request', 'each round', 'vs baseline', 'requests/s'], rows),
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
      ],
      startRows,
    ),
  );
}

await main();
