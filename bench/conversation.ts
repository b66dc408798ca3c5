// The conversation features, each beside its baseline in the same run on the same
// sidecar process: /context?max_tokens on a 500-event session beside the v1 reads of
// that session, and 100 open event streams under 1,000 appends/s beside the same
// appends with no stream open (append latency, delivery latency, the sidecar's memory).
import { request, type ClientRequest } from 'node:http';
import type { Redis } from 'ioredis';
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import { encodeEvent } from '../memory/events.js';
import { RedisServer } from '../harness/redis.js';
import { SidecarProcess } from '../harness/sidecar.js';
import { httpCall, keepAliveAgent, openLoop, sidecarCell, type HttpTarget } from './lib/load.js';
import { Samples, type Summary } from './lib/stats.js';
import { cpuSeconds, idleCost, redisCpuSeconds } from './lib/cpu.js';
import { fmt, table } from './lib/table.js';

const PREFIX = 'bench-conv';
const CELL = { warmupMs: 1000, cellMs: 3000 };
const CONNECTIONS = [1, 16];
const EVENTS = 500;
const SESSION = 'session_500';
const STREAMS = 100;
const RATE = 1000;
const STREAM_MS = 5000;
/** Streams open and nothing written: what their poll costs the sidecar and Redis. */
const IDLE_STREAMS_MS = 5000;
const TEXT =
  'Please summarise the three open incidents from this morning and draft a reply to the on-call channel.';

/** A session as an agent leaves it: turns, and every fifth turn a tool call with its result. */
function session(): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < EVENTS; i++) {
    const at = (n: number) => `event_${String(n).padStart(8, '0')}`;
    const t = '2026-12-01T10:00:00.000000+00:00';
    out.push(
      encodeEvent({ event_type: 'user_message', content: `${i}: ${TEXT}` }, at(out.length), t),
    );
    if (i % 5 === 0) {
      const meta = { tool_call_id: `call_${i}` };
      out.push(
        encodeEvent(
          { event_type: 'tool_call', content: { name: 'search', query: TEXT }, metadata: meta },
          at(out.length),
          t,
        ),
      );
      out.push(
        encodeEvent(
          { event_type: 'tool_result', content: { hits: [TEXT, TEXT] }, metadata: meta },
          at(out.length),
          t,
        ),
      );
    }
    out.push(encodeEvent({ event_type: 'agent_response', content: TEXT }, at(out.length), t));
  }
  return out.slice(0, EVENTS);
}

const get = (path: string): HttpTarget => ({ method: 'GET', path: () => path, status: 200 });

const CONTEXT_CELLS: { name: string; target: HttpTarget; baseline: string; base: HttpTarget }[] = [
  {
    name: '/context?max_tokens=4096',
    target: get(`/v1/sessions/${SESSION}/context?max_tokens=4096`),
    baseline: '/context (last 20)',
    base: get(`/v1/sessions/${SESSION}/context`),
  },
  {
    name: '/context?max_tokens=512&format=messages',
    target: get(`/v1/sessions/${SESSION}/context?max_tokens=512&format=messages`),
    baseline: '/context (last 20)',
    base: get(`/v1/sessions/${SESSION}/context`),
  },
  {
    name: '/context?max_tokens=100000 (all 500)',
    target: get(`/v1/sessions/${SESSION}/context?max_tokens=100000`),
    baseline: `/events (all ${EVENTS})`,
    base: get(`/v1/sessions/${SESSION}/events`),
  },
];

/** One SSE stream; calls `onEvent` with each event's content as it arrives. */
function openStream(
  port: number,
  id: string,
  onEvent: (content: string) => void,
): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: `/v1/sessions/${id}/events/stream` },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: ${res.statusCode}`));
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (data) onEvent((JSON.parse(data.slice(6)) as { content: string }).content);
          }
        });
        resolve(req);
      },
    );
    req.on('error', () => undefined);
    req.end();
  });
}

interface StreamRun {
  appends: Summary;
  delivered: number;
  delivery: Summary;
  anonMax: number;
  /** The sidecar's CPU time per append, deliveries included. */
  cpuUs: number;
  /** With the streams open before the appends: CPU ms a second, the sidecar's and Redis's. */
  idle?: { sidecarMs: number; redisMs: number };
}

/** RATE appends a second over `sessions` for STREAM_MS, with a stream on each session or none. */
async function appendsWith(
  sc: SidecarProcess,
  redis: Redis,
  streams: boolean,
  tag: string,
): Promise<StreamRun> {
  const sessions = Array.from({ length: STREAMS }, (_, i) => `${tag}-${i}`);
  const agent = keepAliveAgent(64);
  for (const id of sessions) {
    await httpCall(
      agent,
      sc.port,
      {
        method: 'POST',
        path: () => `/v1/sessions/${id}/events`,
        body: JSON.stringify({ event_type: 'user_message', content: 'open' }),
      },
      0,
    );
  }
  const start = process.hrtime.bigint();
  const delivery = new Samples();
  const open: ClientRequest[] = [];
  if (streams) {
    for (const id of sessions) {
      open.push(
        await openStream(sc.port, id, (content) => {
          const sent = Number(content);
          if (Number.isFinite(sent))
            delivery.add(Number(process.hrtime.bigint() - start) / 1e6 - sent);
        }),
      );
    }
  }
  let idle: StreamRun['idle'];
  if (streams) {
    await new Promise((r) => setTimeout(r, 1000)); // the streams' first reads done
    const server = await redisCpuSeconds(redis);
    const [sidecar] = await idleCost([sc.proc], IDLE_STREAMS_MS);
    idle = {
      sidecarMs: sidecar.cpuMsPerS,
      redisMs: (((await redisCpuSeconds(redis)) - server) / IDLE_STREAMS_MS) * 1e6,
    };
  }
  let anonMax = 0;
  const sampler = setInterval(() => (anonMax = Math.max(anonMax, sc.proc.memory().anon)), 100);
  const cpuBefore = cpuSeconds(sc.proc.pid);
  const result = await openLoop(RATE, STREAM_MS, (n) => {
    const id = sessions[n % sessions.length] as string;
    const sent = Number(process.hrtime.bigint() - start) / 1e6;
    return httpCall(
      agent,
      sc.port,
      {
        method: 'POST',
        path: () => `/v1/sessions/${id}/events`,
        body: JSON.stringify({ event_type: 'user_message', content: String(sent) }),
      },
      n,
    );
  });
  // Every append was acknowledged: give the streams a moment to deliver the last ones.
  const due = result.fromSchedule.count;
  const deadline = Date.now() + 5000;
  while (streams && delivery.count < due && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(sampler);
  const cpuUs = ((cpuSeconds(sc.proc.pid) - cpuBefore) / result.fromSend.count) * 1e6;
  for (const req of open) req.destroy();
  agent.destroy();
  return {
    appends: result.fromSchedule,
    delivered: delivery.count,
    delivery: delivery.summary(STREAM_MS / 1000),
    anonMax,
    cpuUs,
    idle,
  };
}

export async function benchConversation(): Promise<void> {
  const redis = await RedisServer.start();
  const raw = redis.client();
  const contextRows: (string | number)[][] = [];
  let streamRows: (string | number)[][] | undefined;
  let streamsIdle: StreamRun['idle'];
  let idleAnon: number | undefined;
  let contextAnon = 0;
  try {
    await raw.rpush(`${PREFIX}:events:${SESSION}`, ...session());
    await raw.hset(`${PREFIX}:session:${SESSION}`, {
      session_id: SESSION,
      user_id: 'user',
      app_name: 'agent',
      created_at: '2026-12-01T10:00:00.000000+00:00',
      updated_at: '2026-12-01T10:00:00.000000+00:00',
    });
    const sc = await SidecarProcess.start(
      {
        MEMORY_REDIS_URL: redis.url,
        MEMORY_KEY_PREFIX: PREFIX,
        MEMORY_MAX_SESSIONS: '10000',
        MEMORY_MAX_STREAMS: String(STREAMS),
        LOG_LEVEL: 'error',
        NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
      },
      { ready: '/readyz' },
    );
    try {
      await new Promise((r) => setTimeout(r, 1000));
      idleAnon = sc.proc.memory().anon;
      for (const cell of CONTEXT_CELLS) {
        for (const n of CONNECTIONS) {
          const base = await sidecarCell(sc, n, cell.base, CELL);
          const it = await sidecarCell(sc, n, cell.target, CELL);
          contextAnon = Math.max(contextAnon, sc.proc.memory().anon);
          contextRows.push([
            cell.name,
            cell.baseline,
            n,
            fmt.rate(it.perSecond),
            fmt.ms(it.p50),
            fmt.ms(it.p99),
            fmt.rate(base.perSecond),
            fmt.ms(base.p50),
            fmt.ratio(it.perSecond / base.perSecond),
            fmt.us(it.cpuUs),
            fmt.us(base.cpuUs),
            it.errors + base.errors,
          ]);
        }
      }
      const without = await appendsWith(sc, raw, false, 'plain');
      const withStreams = await appendsWith(sc, raw, true, 'watched');
      streamsIdle = withStreams.idle;
      streamRows = [
        [
          'no stream open (baseline)',
          fmt.ms(without.appends.p50),
          fmt.ms(without.appends.p99),
          without.appends.errors,
          '—',
          '—',
          '—',
          fmt.mib(without.anonMax),
          fmt.us(without.cpuUs),
        ],
        [
          `${STREAMS} streams, one per session`,
          fmt.ms(withStreams.appends.p50),
          fmt.ms(withStreams.appends.p99),
          withStreams.appends.errors,
          `${withStreams.delivered} / ${withStreams.appends.count}`,
          fmt.ms(withStreams.delivery.p50),
          fmt.ms(withStreams.delivery.p99),
          fmt.mib(withStreams.anonMax),
          fmt.us(withStreams.cpuUs),
        ],
      ];
    } finally {
      await sc.stop();
    }
  } finally {
    raw.disconnect();
    await redis.stop();
  }
  console.log(
    [
      '',
      `### /context?max_tokens beside the v1 reads (a ${EVENTS}-event session, ${CELL.cellMs / 1000} s a cell)`,
      '',
      table(
        [
          'route',
          'baseline',
          'conns',
          'req/s',
          'p50 ms',
          'p99 ms',
          'baseline req/s',
          'baseline p50 ms',
          'ratio',
          'CPU µs/req',
          'baseline CPU µs/req',
          'errors',
        ],
        contextRows,
      ),
      '',
      `Sidecar RssAnon idle ${fmt.mib(idleAnon ?? NaN)} MiB, at most ${fmt.mib(contextAnon)} MiB after a cell.`,
      '',
      `### Event streams under ${RATE} appends/s (${STREAM_MS / 1000} s, over ${STREAMS} sessions)`,
      '',
      table(
        [
          'run',
          'append p50 ms',
          'append p99 ms',
          'errors',
          'delivered',
          'delivery p50 ms',
          'delivery p99 ms',
          'RssAnon max MiB',
          'sidecar CPU µs/append',
        ],
        streamRows ?? [],
      ),
      '',
      'Append latency from its due time; delivery from the append being sent to its event arriving on its stream.',
      '',
      streamsIdle
        ? `With the ${STREAMS} streams open and nothing written (${IDLE_STREAMS_MS / 1000} s): the sidecar ${streamsIdle.sidecarMs.toFixed(2)} ms of CPU a second, Redis ${streamsIdle.redisMs.toFixed(2)} ms (a poll of every watched session each MEMORY_STREAM_POLL_MS, 250 ms).`
        : '',
      '',
    ].join('\n'),
  );
}
