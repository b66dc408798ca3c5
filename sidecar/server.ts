// Wires config, Redis, store, router and node:http together, and takes them
// apart again in order: stop accepting, finish in-flight requests, close Redis.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/logger.js';
import { buildRouter } from './api.js';
import type { SidecarConfig } from './config.js';
import { StoreError } from '../memory/errors.js';
import { ApiError, storeFailure } from './errors.js';
import { errorReply, readJson, send, type Reply } from './http.js';
import { createMetrics, type SidecarMetrics } from './metrics.js';
import type { RedisClient } from '../memory/connection.js';
import type { MemoryStore } from '../memory/store.js';
import { openStore } from './backend.js';

const QUIET = new Set(['/healthz', '/readyz', '/metrics']);

export class Sidecar {
  readonly metrics: SidecarMetrics;
  readonly redis: RedisClient;
  readonly store: MemoryStore;
  private readonly server: Server;
  private closing: Promise<void> | undefined;

  constructor(
    readonly config: SidecarConfig,
    private readonly log: Logger,
  ) {
    this.metrics = createMetrics();
    ({ redis: this.redis, store: this.store } = openStore(config, log, this.metrics));
    const router = buildRouter({
      store: this.store,
      agentName: config.agentName,
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        text: await this.metrics.registry.metrics(),
      }),
    });

    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000 }, (req, res) => {
      const started = process.hrtime.bigint();
      // Split by hand: a WHATWG URL per request is a measurable share of the hot path.
      const target = req.url ?? '/';
      const q = target.indexOf('?');
      const pathname = q < 0 ? target : target.slice(0, q);
      const method = req.method ?? 'GET';
      const matched = router.match(method, pathname);
      const template = 'route' in matched ? matched.route.template : 'unmatched';
      const finish = (reply: Reply) => {
        // While shutting down, no connection is kept alive past its last response.
        if (this.closing && !res.headersSent) res.setHeader('connection', 'close');
        send(res, reply);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.observe(template, method, reply.status, seconds);
        if (!QUIET.has(pathname)) {
          log.debug(
            { method, route: template, status: reply.status, ms: seconds * 1000 },
            'request',
          );
        }
      };

      if (!('route' in matched)) {
        req.resume();
        return finish(matched);
      }
      const request = {
        method,
        path: pathname,
        params: matched.params,
        query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
        json: () => readJson(req, config.bodyLimitBytes),
      };
      Promise.resolve()
        .then(() => matched.route.handler(request))
        .then(finish, (thrown: unknown) => {
          let err = thrown;
          if (err instanceof StoreError) {
            this.metrics.redisErrors.inc({ kind: err.kind });
            log.warn({ route: template, kind: err.kind, reason: err.message }, 'redis failure');
            err = storeFailure(err);
          }
          if (!(err instanceof ApiError)) {
            log.error({ err, route: template }, 'unexpected error');
            return finish(errorReply(new ApiError(500, 'internal', 'internal error')));
          }
          if (err.status === 413) res.setHeader('connection', 'close');
          return finish(errorReply(err));
        });
    });
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
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(
      () => this.server.closeAllConnections(),
      this.config.shutdownTimeoutMs,
    );
    await closed;
    clearTimeout(force);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
