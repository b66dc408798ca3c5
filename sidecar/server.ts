// Wires config, Redis, store, route table and node:http together, and takes
// them apart again in order: stop accepting, finish in-flight requests, close Redis.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/logger.js';
import type { SidecarConfig } from './config.js';
import type { RedisClient } from '../memory/connection.js';
import { StoreError } from '../memory/errors.js';
import type { MemoryStore } from '../memory/store.js';
import { openStore, type Backend } from './backend.js';
import { ApiError } from './errors.js';
import { LOOPBACK_HOSTS, Router } from './http.js';
import { createMetrics, type SidecarMetrics } from './metrics.js';
import { ROUTES, type RouteDeps } from './routes.js';

/** Longer than the idle timeout of common HTTP clients (60 s), so the client closes an idle connection first. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** A request must arrive whole within this, or node:http answers 408. */
const REQUEST_TIMEOUT_MS = 30_000;

export class Sidecar {
  readonly metrics: SidecarMetrics;
  readonly redis: RedisClient;
  private readonly backend: Backend;
  readonly store: MemoryStore;
  private readonly router: Router<RouteDeps>;
  private readonly server: Server;
  private closing: Promise<void> | undefined;

  constructor(
    readonly config: SidecarConfig,
    private readonly log: Logger,
  ) {
    this.metrics = createMetrics();
    this.backend = openStore(config, log, this.metrics);
    this.redis = this.backend.redis;
    this.store = this.backend.store;
    const deps: RouteDeps = {
      store: this.store,
      agentName: config.agentName,
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        text: await this.metrics.registry.metrics(),
      }),
    };
    this.router = new Router(ROUTES, deps, {
      bodyLimitBytes: config.bodyLimitBytes,
      hosts: servedHosts(config.host),
      hooks: {
        responded: (route, method, status, seconds, quiet) => {
          this.metrics.observe(route, method, status, seconds);
          if (!quiet) log.debug({ method, route, status, ms: seconds * 1000 }, 'request');
        },
        failed: (err, route) => {
          if (err instanceof StoreError) {
            this.metrics.redisErrors.inc({ kind: err.kind });
            const cause = err.cause instanceof Error ? err.cause.message : undefined;
            log.warn({ route, kind: err.kind, reason: err.message, cause }, 'redis failure');
          } else if (!(err instanceof ApiError)) {
            log.error({ err, route }, 'unexpected error');
          }
        },
      },
    });
    this.metrics.countInFlight(() => this.router.inFlight());
    this.server = createServer(
      { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      this.router.listener,
    );
  }

  /** Connects to Redis (tolerating that it is down: readiness says so) and listens. */
  async start(): Promise<AddressInfo> {
    this.redis.connect().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'redis not reachable at start; retrying');
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /** Idempotent. Stops accepting, lets in-flight requests finish, then closes Redis. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.router.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(
      () => this.server.closeAllConnections(),
      this.config.shutdownTimeoutMs,
    );
    await closed;
    clearTimeout(force);
    await this.backend.close();
  }
}

/**
 * The Host names served: loopback's, and the listen address when it is set to
 * another. Listening on every address (MEMORY_SIDECAR_HOST=0.0.0.0) serves any
 * Host: whoever chose that exposed the API on purpose.
 */
function servedHosts(listen: string): readonly string[] | 'any' {
  if (listen === '0.0.0.0' || listen === '::') return 'any';
  const name = listen.includes(':') ? `[${listen}]` : listen;
  return LOOPBACK_HOSTS.includes(name) ? LOOPBACK_HOSTS : [...LOOPBACK_HOSTS, name];
}
