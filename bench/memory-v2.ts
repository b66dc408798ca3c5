// Memory v2 beside v1, in the same run on the same sidecar process: a v2 write
// (one turn, and one kept as a fact with infer: false) beside a v1 append of one
// event, and a v2 recall of a 500-event session within a token budget beside the
// v1 reads of the same session (every event, and /context).
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import { RedisServer } from '../harness/redis.js';
import { SidecarProcess } from '../harness/sidecar.js';
import { sidecarCell, type HttpTarget } from './lib/load.js';
import { appendThroughApi } from './lib/seed.js';
import { fmt, table } from './lib/table.js';

const PREFIX = 'bench-v2';
const IDENTITY = 'kaos://agent/bench/memory-agent';
const CELL = { warmupMs: 1000, cellMs: 3000 };
const CONNECTIONS = [1, 16];
const EVENTS = 500;
const SESSION = 'session_500';
const TEXT =
  'Please summarise the three open incidents from this morning and draft a reply to the on-call channel.';

const scope = (level: string) => ({
  level,
  principal: 'alice',
  agent_client_id: IDENTITY,
  session_id: SESSION,
  user_scoping_required: false,
});

const post = (path: string, body: unknown): HttpTarget => ({
  method: 'POST',
  path: () => path,
  body: JSON.stringify(body),
  status: 200,
});

const writeBody = (session: string, infer: boolean) => ({
  attribution: { principal: 'alice', agent_client_id: IDENTITY, session_id: session },
  turns: [{ role: 'user', content: TEXT }],
  infer,
});

const recallBody = (budget: number) => ({
  scope: scope('session'),
  query: 'which incidents are open',
  top_k: 10,
  include_short_term: true,
  short_term_token_budget: budget,
});

/** Pairs of [v2 operation, its v1 counterpart]; each ratio is v2 over v1 in this run. */
const CELLS: { name: string; v2: HttpTarget; v1: { name: string; target: HttpTarget } }[] = [
  {
    name: 'POST /v1/write, one turn',
    v2: post('/v1/write', writeBody('v2-writes', true)),
    v1: {
      name: 'POST /v1/sessions/{id}/events, one event',
      target: {
        method: 'POST',
        path: () => '/v1/sessions/v1-writes/events',
        body: JSON.stringify({ event_type: 'user_message', content: TEXT }),
      },
    },
  },
  {
    name: 'POST /v1/write, one turn kept as a fact (infer: false)',
    v2: post('/v1/write', writeBody('v2-facts', false)),
    v1: {
      name: 'POST /v1/sessions/{id}/events, one event',
      target: {
        method: 'POST',
        path: () => '/v1/sessions/v1-writes/events',
        body: JSON.stringify({ event_type: 'user_message', content: TEXT }),
      },
    },
  },
  {
    name: `POST /v1/recall, ${EVENTS}-event session, budget 4096 tokens`,
    v2: post('/v1/recall', recallBody(4096)),
    v1: {
      name: `GET /v1/sessions/{id}/events (all ${EVENTS})`,
      target: { method: 'GET', path: () => `/v1/sessions/${SESSION}/events` },
    },
  },
  {
    name: `POST /v1/recall, ${EVENTS}-event session, budget 512 tokens`,
    v2: post('/v1/recall', recallBody(512)),
    v1: {
      name: 'GET /v1/sessions/{id}/context (last 20)',
      target: { method: 'GET', path: () => `/v1/sessions/${SESSION}/context` },
    },
  },
];

export async function benchMemoryV2(): Promise<void> {
  const redis = await RedisServer.start();
  const rows: (string | number)[][] = [];
  let peak: number | undefined;
  try {
    const sc = await SidecarProcess.start(
      {
        MEMORY_REDIS_URL: redis.url,
        MEMORY_KEY_PREFIX: PREFIX,
        AGENT_IDENTITY: IDENTITY,
        LOG_LEVEL: 'error',
        NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
      },
      { ready: '/readyz' },
    );
    try {
      // The session as a v2 agent leaves it, written through the sidecar (its session hash,
      // index and copies with it): alternating user and agent turns.
      for (let i = 0; i < EVENTS; i += 100) {
        const batch = Array.from({ length: 100 }, (_, j) => ({
          event_type: (i + j) % 2 ? 'agent_response' : 'user_message',
          content: `${i + j}: ${TEXT}`,
        }));
        await appendThroughApi(sc.url, SESSION, batch);
      }
      for (const cell of CELLS) {
        for (const n of CONNECTIONS) {
          const v1 = await sidecarCell(sc, n, cell.v1.target, CELL);
          const v2 = await sidecarCell(sc, n, cell.v2, CELL);
          rows.push([
            cell.name,
            cell.v1.name,
            n,
            fmt.rate(v2.perSecond),
            fmt.ms(v2.p50),
            fmt.ms(v2.p99),
            fmt.rate(v1.perSecond),
            fmt.ms(v1.p50),
            fmt.ratio(v2.perSecond / v1.perSecond),
            fmt.us(v2.cpuUs),
            fmt.us(v1.cpuUs),
            v2.errors + v1.errors,
          ]);
        }
      }
      peak = sc.proc.memory().peak;
    } finally {
      await sc.stop();
    }
  } finally {
    await redis.stop();
  }
  console.log(
    [
      '',
      `### Memory v2 beside v1 (the same sidecar process, ${CELL.cellMs / 1000} s a cell)`,
      '',
      table(
        [
          'v2',
          'v1 baseline',
          'conns',
          'v2 req/s',
          'v2 p50 ms',
          'v2 p99 ms',
          'v1 req/s',
          'v1 p50 ms',
          'v2 / v1',
          'v2 CPU µs/req',
          'v1 CPU µs/req',
          'errors',
        ],
        rows,
      ),
      '',
      `Sidecar RSS peak (VmHWM) over the run: ${fmt.mib(peak ?? NaN)} MiB.`,
      '',
    ].join('\n'),
  );
}
