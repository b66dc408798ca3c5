// The sidecar benchmark: the sidecar as a child
// process from dist/, next to the same MemoryStore calls made directly with
// ioredis in this process, against a fresh redis-server of its own.
import type { Redis } from 'ioredis';
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { createLogger } from '../lib/logger.js';
import { loadSidecarConfig } from '../sidecar/config.js';
import { encodeSessionCursor } from '../sidecar/cursor.js';
import { openStore } from '../sidecar/backend.js';
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import type { MemoryStore } from '../memory/store.js';
import { RedisServer } from '../harness/redis.js';
import { freePort } from '../harness/ports.js';
import {
  closedLoop,
  httpCall,
  httpClosedLoop,
  keepAliveAgent,
  openLoop,
  type HttpTarget,
  type Op,
  type OpenLoopResult,
} from './lib/load.js';
import { withCpu } from './lib/cpu.js';
import { seedSessions } from './lib/seed.js';
import { SidecarProcess } from '../harness/sidecar.js';
import { startNoopServer } from './lib/noop-server-process.js';
import { median, type Summary } from './lib/stats.js';
import { fmt, table } from './lib/table.js';

const PREFIX = 'bench';
const WARMUP_MS = 1000;
const CELL_MS = 3000;
const RATE = 1000;
const RATE_MS = 5000;
const PAGE_MS = 2000;
const LISTED_SESSIONS = 100_000;
const CONNECTIONS = [1, 16, 64];
const EVENT = {
  event_type: 'user_message',
  content:
    'Please summarise the three open incidents from this morning and draft a reply to the on-call channel.',
};
const MESSAGE = JSON.stringify(EVENT);
const OWNER = { userId: 'user', appName: 'agent' };
/** Extra node flags for the sidecar child, after NODE_OPTIONS, e.g. "--max-semi-space-size=16". */
const NODE_ARGS = (process.env.BENCH_SIDECAR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** The sidecar's environment; the direct baseline parses the same one. */
function sidecarEnv(redisUrl: string, port: number): Record<string, string> {
  return {
    MEMORY_REDIS_URL: redisUrl,
    MEMORY_SIDECAR_PORT: String(port),
    MEMORY_KEY_PREFIX: PREFIX,
    // Above the seeded index, so appends never evict the sessions being listed.
    MEMORY_MAX_SESSIONS: String(LISTED_SESSIONS * 10),
    // warn would print one line per /readyz poll made before Redis is connected.
    LOG_LEVEL: 'error',
    // As the webhook injects it (webhook/sidecar.ts).
    NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
  };
}

/** A sidecar measurement with the sidecar's own CPU time per request (µs). */
type Measured = Summary & { cpuUs: number };

interface Cell {
  op: string;
  connections: number;
  sidecar: Measured;
  direct: Summary;
}

export async function benchSidecar(): Promise<void> {
  const redis = await RedisServer.start();
  const port = await freePort();
  const env = sidecarEnv(redis.url, port);
  const config = loadSidecarConfig(env);
  const direct = openStore(config, createLogger('bench', 'warn'));
  const { store } = direct;
  const directRedis = direct.redis as Redis; // one Redis here: the seeders use its commands
  await directRedis.connect();
  let sidecar: SidecarProcess | undefined;
  try {
    // Start to ready, three times; the last one stays up for the rest.
    const readyMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sidecar?.stop();
      sidecar = await SidecarProcess.start(env, {
        nodeArgs: NODE_ARGS,
        ready: '/readyz',
        intervalMs: 5,
      });
      readyMs.push(sidecar.readyMs);
    }
    const live = sidecar as SidecarProcess;
    await new Promise((r) => setTimeout(r, 1000));
    const idle = live.proc.memory();

    await seedEvents(store, 64, 100);
    const underLoad = { rss: 0, anon: 0 };
    const sampler = setInterval(() => {
      const m = live.proc.memory();
      underLoad.rss = Math.max(underLoad.rss, m.rss);
      underLoad.anon = Math.max(underLoad.anon, m.anon);
    }, 100);
    let cells: Cell[];
    let rate: RateResults;
    try {
      cells = await throughputCells(live, store);
      rate = await fixedRate(live, store);
    } finally {
      clearInterval(sampler);
    }
    const peak = live.proc.memory().peak;

    await seedSessions(directRedis, PREFIX, 'listed', LISTED_SESSIONS);
    const pages = await pageCells(live, store, directRedis);
    const exitCode = (await live.stop()).code;

    report({
      cells,
      rate,
      pages,
      readyMs,
      idle,
      underLoad,
      peak,
      exitCode,
    });
  } finally {
    await sidecar?.stop();
    await direct.close();
    await redis.stop();
  }
}

/** `sessions` sessions `read-N` holding `events` events each, for the read cells. */
async function seedEvents(store: MemoryStore, sessions: number, events: number): Promise<void> {
  const batch = Array.from({ length: events }, (_, i) => ({
    event_type: i % 2 ? 'agent_response' : 'user_message',
    content: EVENT.content,
  }));
  for (let s = 0; s < sessions; s++) await store.appendEvents(`read-${s}`, batch, OWNER);
}

const APPEND: HttpTarget = {
  method: 'POST',
  path: (c) => `/v1/sessions/append-${c}/events`,
  body: MESSAGE,
};
const READ: HttpTarget = { method: 'GET', path: (c) => `/v1/sessions/read-${c}/events?limit=20` };

/** The direct baseline of each HTTP target: the same MemoryStore call the route makes. */
function directOps(store: MemoryStore): { append: Op; read: Op } {
  return {
    append: async (c) => {
      await store.appendEvents(`append-${c}`, [EVENT], OWNER);
    },
    read: async (c) => {
      await store.readEvents(`read-${c}`, { limit: 20 });
    },
  };
}

async function throughputCells(live: SidecarProcess, store: MemoryStore): Promise<Cell[]> {
  const { port, proc } = live;
  const direct = directOps(store);
  const cells: Cell[] = [];
  for (const [op, target, directOp] of [
    ['append', APPEND, direct.append],
    ['read last 20', READ, direct.read],
  ] as const) {
    for (const n of CONNECTIONS) {
      await httpClosedLoop(port, n, WARMUP_MS, target);
      const sidecar = await withCpu(proc.pid, () => httpClosedLoop(port, n, CELL_MS, target));
      await closedLoop(n, WARMUP_MS, directOp);
      const directResult = await closedLoop(n, CELL_MS, directOp);
      cells.push({ op, connections: n, sidecar, direct: directResult });
    }
  }
  return cells;
}

interface RateResults {
  sidecar: OpenLoopResult & { cpuUs: number };
  noop: OpenLoopResult;
  direct: OpenLoopResult;
}

/**
 * Appends at a fixed 1,000/s over keep-alive connections, round-robin over 16
 * sessions: through the sidecar, to a no-op HTTP server (the floor of any HTTP
 * hop on this machine), and directly.
 */
async function fixedRate(live: SidecarProcess, store: MemoryStore): Promise<RateResults> {
  const { port, proc } = live;
  const target = { ...APPEND, path: (i: number) => `/v1/sessions/rate-${i % 16}/events` };
  const overHttp = async (to: number) => {
    const agent = keepAliveAgent(64);
    try {
      const op: Op = (i) => httpCall(agent, to, target, i);
      await openLoop(RATE, WARMUP_MS, op);
      return await openLoop(RATE, RATE_MS, op);
    } finally {
      agent.destroy();
    }
  };
  const sidecar = await withCpu(proc.pid, async () => {
    const result = await overHttp(port);
    return { ...result, count: result.fromSend.count };
  });
  const noopPort = await freePort();
  const noopServer = await startNoopServer(noopPort);
  const noop = await overHttp(noopPort).finally(() => noopServer.stop());
  const viaStore: Op = async (i) => {
    await store.appendEvents(`rate-${i % 16}`, [EVENT], OWNER);
  };
  await openLoop(RATE, WARMUP_MS, viaStore);
  const direct = await openLoop(RATE, RATE_MS, viaStore);
  return { sidecar, noop, direct };
}

interface PageCell {
  page: string;
  sidecar: Measured;
  store: Summary;
  baseline: Summary;
}

/** One page of 100 sessions, first and deep (rank 50,000), one caller at a time. */
async function pageCells(
  live: SidecarProcess,
  store: MemoryStore,
  redis: Redis,
): Promise<PageCell[]> {
  const { port, proc } = live;
  const index = store.keys.indexes[0]?.index ?? '';
  const [member, score] = await redis.zrevrange(index, 50_000 - 1, 50_000 - 1, 'WITHSCORES');
  if (member === undefined || score === undefined) throw new Error('the index was not seeded');
  const deep = { score, member };
  const cells: PageCell[] = [];
  for (const [page, cursor] of [
    ['first', undefined],
    ['deep (after rank 50,000)', deep],
  ] as const) {
    const query = cursor ? `&cursor=${encodeSessionCursor(cursor)}` : '';
    const target: HttpTarget = { method: 'GET', path: () => `/v1/sessions?limit=100${query}` };
    await checkPage(port, target.path(0));
    const viaStore: Op = async () => {
      const { sessions } = await store.listSessions({ limit: 100, cursor });
      if (sessions.length !== 100) throw new Error(`store page held ${sessions.length}`);
    };
    const baseline: Op = async () => {
      const ids = await redis.zrevrangebyscore(
        index,
        cursor ? `(${cursor.score}` : '+inf',
        '-inf',
        'LIMIT',
        0,
        100,
      );
      const pipe = redis.pipeline();
      for (const id of ids) {
        const k = store.keys.forSession(id).session;
        pipe.hmget(k, 'session_id', 'user_id', 'app_name', 'created_at', 'updated_at');
      }
      const rows = await pipe.exec();
      if (rows?.length !== 100) throw new Error(`baseline page held ${rows?.length}`);
    };
    await httpClosedLoop(port, 1, WARMUP_MS / 2, target);
    const sidecar = await withCpu(proc.pid, () => httpClosedLoop(port, 1, PAGE_MS, target));
    await closedLoop(1, WARMUP_MS / 2, viaStore);
    const viaStoreResult = await closedLoop(1, PAGE_MS, viaStore);
    await closedLoop(1, WARMUP_MS / 2, baseline);
    const baselineResult = await closedLoop(1, PAGE_MS, baseline);
    cells.push({ page, sidecar, store: viaStoreResult, baseline: baselineResult });
  }
  return cells;
}

/** A page through the sidecar must hold 100 sessions and a cursor onward. */
async function checkPage(port: number, path: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = (await res.json()) as { sessions?: unknown[]; next_cursor?: unknown };
  if (res.status !== 200 || body.sessions?.length !== 100 || typeof body.next_cursor !== 'string')
    throw new Error(`GET ${path}: ${res.status}, ${body.sessions?.length} sessions`);
}

function report(r: {
  cells: Cell[];
  rate: RateResults;
  pages: PageCell[];
  readyMs: number[];
  idle: { rss: number; anon: number };
  underLoad: { rss: number; anon: number };
  peak: number;
  exitCode: number | null;
}): void {
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const out: string[] = [];
  out.push('## Sidecar benchmark', '');
  out.push(
    `Node ${process.version}, ${cpus().length} CPUs, ${redisVersion.split(' ').slice(0, 3).join(' ')}; ` +
      `${CELL_MS / 1000} s per cell after ${WARMUP_MS / 1000} s warm-up; latencies in ms; ` +
      `sidecar NODE_OPTIONS as injected: \`${SIDECAR_NODE_OPTIONS}\`` +
      (NODE_ARGS.length ? `, then \`${NODE_ARGS.join(' ')}\`.` : '.'),
    '',
  );

  out.push('### Throughput and latency (closed loop, keep-alive connections)', '');
  out.push(
    table(
      [
        'operation',
        'connections',
        'sidecar req/s',
        'direct ops/s',
        'ratio',
        'sidecar p50',
        'sidecar p99',
        'direct p50',
        'direct p99',
        'sidecar CPU µs/req',
        'errors',
      ],
      r.cells.map((c) => [
        c.op,
        c.connections,
        fmt.rate(c.sidecar.perSecond),
        fmt.rate(c.direct.perSecond),
        fmt.ratio(c.sidecar.perSecond / c.direct.perSecond),
        fmt.ms(c.sidecar.p50),
        fmt.ms(c.sidecar.p99),
        fmt.ms(c.direct.p50),
        fmt.ms(c.direct.p99),
        fmt.us(c.sidecar.cpuUs),
        c.sidecar.errors + c.direct.errors,
      ]),
    ),
    '',
  );

  out.push(`### Appends at a fixed ${fmt.rate(RATE)}/s for ${RATE_MS / 1000} s (open loop)`, '');
  const rateRow = (name: string, x: OpenLoopResult & { cpuUs?: number }) => [
    name,
    fmt.rate(x.fromSend.perSecond),
    fmt.ms(x.fromSchedule.p50),
    fmt.ms(x.fromSchedule.p99),
    fmt.ms(x.fromSchedule.max),
    fmt.ms(x.fromSend.p99),
    fmt.us(x.cpuUs ?? NaN),
    x.fromSend.errors,
  ];
  out.push(
    table(
      ['path', 'done/s', 'p50', 'p99', 'max', 'p99 from send', 'sidecar CPU µs/req', 'errors'],
      [
        rateRow('sidecar', r.rate.sidecar),
        rateRow('no-op node:http server (control)', r.rate.noop),
        rateRow('direct ioredis', r.rate.direct),
      ],
    ),
    '',
    'p50, p99 and max count from when each append was due, so any lateness of the generator counts against it.',
    '',
  );

  out.push(`### A page of 100 from ${fmt.rate(LISTED_SESSIONS)} sessions (one caller)`, '');
  out.push(
    table(
      [
        'page',
        'sidecar req/s',
        'sidecar p50',
        'sidecar p99',
        'direct, same script p50',
        'direct ZREVRANGEBYSCORE+HMGET p50',
        'p99',
        'ratio (p50 sidecar / ZREVRANGEBYSCORE+HMGET)',
        'sidecar CPU µs/req',
      ],
      r.pages.map((p) => [
        p.page,
        fmt.rate(p.sidecar.perSecond),
        fmt.ms(p.sidecar.p50),
        fmt.ms(p.sidecar.p99),
        fmt.ms(p.store.p50),
        fmt.ms(p.baseline.p50),
        fmt.ms(p.baseline.p99),
        fmt.ratio(p.sidecar.p50 / p.baseline.p50),
        fmt.us(p.sidecar.cpuUs),
      ]),
    ),
    '',
  );

  out.push('### Process', '');
  out.push(
    table(
      ['measure', 'value'],
      [
        [
          'spawn to first /readyz 200 (3 runs)',
          r.readyMs.map((ms) => fmt.ms(ms)).join(', ') + ' ms',
        ],
        ['RSS idle (VmRSS / RssAnon)', `${fmt.mib(r.idle.rss)} / ${fmt.mib(r.idle.anon)} MiB`],
        [
          'RSS under load, max sampled every 100 ms (VmRSS / RssAnon)',
          `${fmt.mib(r.underLoad.rss)} / ${fmt.mib(r.underLoad.anon)} MiB`,
        ],
        ['RSS peak (VmHWM, to the end of the load)', `${fmt.mib(r.peak)} MiB`],
        ['exit code after SIGTERM', String(r.exitCode)],
      ],
    ),
    '',
  );

  out.push('### Goals (issue 24: half the cost per request and per pod)', '');
  out.push(table(['goal', 'target', 'measured', 'result'], goalRows(r)), '');
  console.log(out.join('\n'));
}

/** Issue 24's goals, each from this run (ratios within it). */
function goalRows(r: {
  cells: Cell[];
  rate: RateResults;
  readyMs: number[];
  idle: { anon: number };
  underLoad: { anon: number };
}): string[][] {
  const cell = (op: string, n: number) => r.cells.find((c) => c.op === op && c.connections === n);
  const ratio = (op: string, n: number) => {
    const c = cell(op, n);
    return c ? c.sidecar.perSecond / c.direct.perSecond : NaN;
  };
  const rows: string[][] = [];
  const one = cell('append', 1);
  const overhead = one ? one.sidecar.p50 - one.direct.p50 : NaN;
  rows.push([
    'append, 1 connection: p50 over direct',
    '<= 0.12 ms',
    `${fmt.ms(overhead)} ms`,
    fmt.verdict(overhead <= 0.12),
  ]);
  for (const op of ['append', 'read last 20']) {
    for (const n of [16, 64]) {
      const x = ratio(op, n);
      rows.push([`${op}, ${n} connections`, '>= 0.8x direct', fmt.ratio(x), fmt.verdict(x >= 0.8)]);
    }
  }
  const late = r.rate.sidecar.fromSchedule.p50 - r.rate.noop.fromSchedule.p50;
  // For scale: the Redis round trip alone, which the sidecar's append cannot avoid.
  const directLate = r.rate.direct.fromSchedule.p50 - r.rate.noop.fromSchedule.p50;
  rows.push([
    `${fmt.rate(RATE)} appends/s: p50 over the no-op HTTP control`,
    '<= 0.2 ms',
    `${fmt.ms(late)} ms (direct ioredis alone: ${fmt.ms(directLate)} ms)`,
    fmt.verdict(late <= 0.2),
  ]);
  const MiB = 1024 * 1024;
  rows.push([
    'RssAnon idle',
    '<= 16 MiB',
    `${fmt.mib(r.idle.anon)} MiB`,
    fmt.verdict(r.idle.anon <= 16 * MiB),
  ]);
  rows.push([
    'RssAnon under load',
    '<= 24 MiB',
    `${fmt.mib(r.underLoad.anon)} MiB`,
    fmt.verdict(r.underLoad.anon <= 24 * MiB),
  ]);
  const ready = median(r.readyMs);
  rows.push([
    'spawn to first /readyz 200 (median of 3)',
    '<= 150 ms',
    `${fmt.ms(ready)} ms`,
    fmt.verdict(ready <= 150),
  ]);
  return rows;
}
