import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import gc from 'prom-client/lib/metrics/gc.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { LoopDelay } from './loop-delay.js';

const PREFIX = 'kaos_memory_sidecar_';
/**
 * prom-client's default collectors (its `collectDefaultMetrics`), all but its event-loop
 * sampler, whose timer would wake every idle pod: the sidecar's own samples only while it
 * serves (loop-delay.ts, decision 0042). The names and values are prom-client's.
 */
const DEFAULT_COLLECTORS = [
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
  gc,
];

/** From half a millisecond (an append on a quiet pod) to the 2 s Redis deadline and past it. */
const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export interface InFlight {
  route: string;
  method: string;
  count: number;
}

export interface SidecarMetrics {
  registry: Registry;
  /** The event-loop delay sampler: told of each request it runs on for a while after. */
  loopDelay: LoopDelay;
  /**
   * Counts one request. Label children are kept per route, method and status; prom-client
   * still hashes a child's labels at each call (~1 µs: decision 0040).
   */
  observe(route: string, method: string, status: number, seconds: number): void;
  /** Reads the requests in flight from `source` at each scrape (the hot path only counts). */
  countInFlight(source: () => Iterable<InFlight>): void;
  /** Reads the requests waiting behind another on their connection at each scrape. */
  countQueued(source: () => number): void;
  abandoned: Counter;
  redisErrors: Counter<'kind'>;
  redisReconnects: Counter;
  redisUp: Gauge;
  entriesSkipped: Counter<'reason'>;
  sessionsEvicted: Counter;
  unhandled: Counter;
}

export function createMetrics(): SidecarMetrics {
  const registry = new Registry();
  for (const collect of DEFAULT_COLLECTORS) collect(registry, { prefix: PREFIX });
  const loopDelay = new LoopDelay(registry, PREFIX);
  const requests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests by route template, method and status code.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'HTTP request latency by route template.',
    labelNames: ['route', 'method'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  let inFlightSource: (() => Iterable<InFlight>) | undefined;
  new Gauge({
    name: `${PREFIX}http_requests_in_flight`,
    help: 'HTTP requests received and not yet answered, by route template (a scrape counts itself).',
    labelNames: ['route', 'method'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { route, method, count } of inFlightSource?.() ?? []) {
        this.set({ route, method }, count);
      }
    },
  });
  let queuedSource: (() => number) | undefined;
  new Gauge({
    name: `${PREFIX}http_requests_queued`,
    help: 'HTTP requests received on a connection and waiting for the answer before them to be sent (pipelining).',
    registers: [registry],
    collect() {
      this.set(queuedSource?.() ?? 0);
    },
  });
  const children = new Map<string, { count: () => void; time: (s: number) => void }>();
  return {
    registry,
    loopDelay,
    observe(route, method, status, seconds) {
      const key = `${method} ${status} ${route}`;
      let child = children.get(key);
      if (!child) {
        const c = requests.labels({ route, method, status });
        const h = duration.labels({ route, method });
        child = { count: () => c.inc(), time: (s) => h.observe(s) };
        children.set(key, child);
      }
      child.count();
      child.time(seconds);
    },
    countInFlight(source) {
      inFlightSource = source;
    },
    countQueued(source) {
      queuedSource = source;
    },
    abandoned: new Counter({
      name: `${PREFIX}http_requests_abandoned_total`,
      help: 'HTTP requests received and never run: their client had gone, or their connection had too many requests pipelined and was closed.',
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: `${PREFIX}redis_errors_total`,
      help: 'Redis errors: connection (socket, timeout) or command (a reply error).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    redisReconnects: new Counter({
      name: `${PREFIX}redis_reconnects_total`,
      help: 'Reconnection attempts to Redis.',
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: `${PREFIX}redis_up`,
      help: '1 while the Redis connection is ready.',
      registers: [registry],
    }),
    unhandled: new Counter({
      name: 'kaos_memory_sidecar_unhandled_errors_total',
      help: 'Errors that escaped every handler (a bug): logged, and the process goes on.',
      registers: [registry],
    }),
    entriesSkipped: new Counter({
      name: 'kaos_memory_sidecar_entries_skipped_total',
      help: 'Stored entries a read passed over: undecodable (not a whole event, or nested too deeply) or oversized.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    sessionsEvicted: new Counter({
      name: 'kaos_memory_sidecar_sessions_evicted_total',
      help: 'Sessions this sidecar deleted to keep MEMORY_MAX_SESSIONS (least recently updated first).',
      registers: [registry],
    }),
  };
}
