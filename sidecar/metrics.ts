import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface SidecarMetrics {
  registry: Registry;
  /** Counts one request; label children are cached, so the hot path hashes no labels. */
  observe(route: string, method: string, status: number, seconds: number): void;
  redisErrors: Counter<'kind'>;
  redisReconnects: Counter;
  redisUp: Gauge;
  entriesSkipped: Counter<'reason'>;
}

export function createMetrics(): SidecarMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kaos_memory_sidecar_' });
  const requests = new Counter({
    name: 'kaos_memory_sidecar_http_requests_total',
    help: 'HTTP requests by route template, method and status code.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'kaos_memory_sidecar_http_request_duration_seconds',
    help: 'HTTP request latency by route template.',
    labelNames: ['route', 'method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const children = new Map<string, { count: () => void; time: (s: number) => void }>();
  return {
    registry,
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
    redisErrors: new Counter({
      name: 'kaos_memory_sidecar_redis_errors_total',
      help: 'Redis errors: connection (socket, timeout) or command (a reply error).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    redisReconnects: new Counter({
      name: 'kaos_memory_sidecar_redis_reconnects_total',
      help: 'Reconnection attempts to Redis.',
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: 'kaos_memory_sidecar_redis_up',
      help: '1 while the Redis connection is ready.',
      registers: [registry],
    }),
    entriesSkipped: new Counter({
      name: 'kaos_memory_sidecar_entries_skipped_total',
      help: 'Stored entries a read passed over: undecodable (not a whole event, or nested too deeply) or oversized.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
