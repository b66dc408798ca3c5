// Appends on Sentinel and on Redis Cluster: the sidecar (a child process) against
// the same store call made directly with ioredis in this process on the same
// topology, in one run, without and with MEMORY_REDIS_MIN_REPLICAS=1 (WAIT).
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import { createLogger } from '../lib/logger.js';
import { RedisCluster, SentinelGroup } from '../harness/redis-topology.js';
import { SidecarProcess } from '../harness/sidecar.js';
import { openStore } from '../sidecar/backend.js';
import { loadSidecarConfig } from '../sidecar/config.js';
import { closedLoop, httpClosedLoop, type HttpTarget } from './lib/load.js';
import type { Summary } from './lib/stats.js';
import { fmt, table } from './lib/table.js';

const WARMUP_MS = 1000;
const CELL_MS = 3000;
const CONNECTIONS = [16, 64];
const EVENT = { event_type: 'user_message', content: 'What did we decide about the rollout?' };
const OWNER = { userId: 'user', appName: 'agent' };
const APPEND: HttpTarget = {
  method: 'POST',
  path: (c) => `/v1/sessions/topo-${c}/events`,
  body: JSON.stringify(EVENT),
};

interface Row {
  topology: string;
  minReplicas: number;
  connections: number;
  sidecar: Summary;
  direct: Summary;
}

async function measure(topology: string, url: string, minReplicas: number): Promise<Row[]> {
  const env = {
    MEMORY_REDIS_URL: url,
    MEMORY_REDIS_MIN_REPLICAS: String(minReplicas),
    MEMORY_KEY_PREFIX: `bench-topo-${minReplicas}`,
    MEMORY_MAX_SESSIONS: '1000000',
    LOG_LEVEL: 'error',
    NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
  };
  const sc = await SidecarProcess.start(env, { ready: '/readyz' });
  const direct = openStore(loadSidecarConfig(env), createLogger('bench', 'error'));
  await direct.redis.connect();
  const rows: Row[] = [];
  try {
    const port = Number(new URL(sc.url).port);
    const op = async (c: number) => {
      await direct.store.appendEvents(`topo-${c}`, [EVENT], OWNER);
    };
    for (const n of CONNECTIONS) {
      await httpClosedLoop(port, n, WARMUP_MS, APPEND);
      const sidecar = await httpClosedLoop(port, n, CELL_MS, APPEND);
      await closedLoop(n, WARMUP_MS, op);
      const directResult = await closedLoop(n, CELL_MS, op);
      rows.push({ topology, minReplicas, connections: n, sidecar, direct: directResult });
    }
  } finally {
    await direct.close();
    await sc.stop();
  }
  return rows;
}

export async function benchTopologies(): Promise<void> {
  const rows: Row[] = [];
  const sentinel = await SentinelGroup.start({ replicas: 2, sentinels: 3 });
  try {
    for (const min of [0, 1])
      rows.push(...(await measure('Sentinel (1 primary, 2 replicas)', sentinel.url(), min)));
  } finally {
    await sentinel.stop();
  }
  const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  try {
    for (const min of [0, 1])
      rows.push(...(await measure('Cluster (3 masters, 1 replica each)', cluster.url(), min)));
  } finally {
    await cluster.stop();
  }
  const base = (r: Row) =>
    rows.find(
      (x) => x.topology === r.topology && x.connections === r.connections && x.minReplicas === 0,
    );
  console.log(
    [
      '### Appends on Sentinel and Cluster (closed loop, keep-alive connections)',
      '',
      table(
        [
          'topology',
          'MIN_REPLICAS',
          'connections',
          'sidecar req/s',
          'direct ops/s',
          'ratio',
          'sidecar p50',
          'sidecar p99',
          'direct p99',
          'sidecar cost of WAIT (req/s vs MIN_REPLICAS=0)',
          'errors',
        ],
        rows.map((r) => [
          r.topology,
          r.minReplicas,
          r.connections,
          fmt.rate(r.sidecar.perSecond),
          fmt.rate(r.direct.perSecond),
          fmt.ratio(r.sidecar.perSecond / r.direct.perSecond),
          fmt.ms(r.sidecar.p50),
          fmt.ms(r.sidecar.p99),
          fmt.ms(r.direct.p99),
          r.minReplicas === 0
            ? '-'
            : fmt.ratio(r.sidecar.perSecond / (base(r)?.sidecar.perSecond ?? NaN)),
          r.sidecar.errors + r.direct.errors,
        ]),
      ),
      '',
      'Direct: the same MemoryStore call (one MULTI/EXEC around the append script, plus WAIT with MIN_REPLICAS) made in this process with ioredis.',
      '',
    ].join('\n'),
  );
}
