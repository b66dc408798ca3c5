// Wires config, Redis, store, route table and node:http together, and takes
// them apart again in order: stop accepting, finish in-flight requests, close Redis.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/logger.js';
import type { SidecarConfig } from './config.js';
import type { RedisClient } from '../memory/connection.js';
import { isOutcome, StoreError } from '../memory/errors.js';
import { FactStore } from '../memory/facts.js';
import type { MemoryStore } from '../memory/store.js';
import { openStore, type Backend } from './backend.js';
import { ApiError } from './errors.js';
import { LOOPBACK_HOSTS, Router, type DispatchHooks } from './router.js';
import { createMetrics, type SidecarMetrics } from './metrics.js';
import { ROUTES, type RouteDeps } from './routes/index.js';
import { HEALTH_ROUTES } from './routes/probes.js';
import { redisTail, StreamHub } from './streams.js';
import { Summarizer } from './summarizer.js';
import { SessionHolds } from '../memory/holds.js';
import { Periodic } from '../lib/periodic.js';
import { decodeEvent } from '../memory/events.js';
import { TokenCounts } from './token-counts.js';
import { MemoryV2 } from './v2/service.js';

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
  /** Automatic folds, when a summary model is configured. */
  readonly summarizer: Summarizer | undefined;
  /** Live tails (GET …/events/stream). */
  readonly streams: StreamHub;
  /** GET /metrics on every interface (MEMORY_METRICS_PORT), or none. */
  private readonly metricsServer: Server | undefined;
  /**
   * GET /healthz and /readyz on every interface (MEMORY_HEALTH_PORT), or none: kubelet's
   * httpGet probes dial the pod IP, and the API stays on loopback.
   */
  private readonly healthServer: Server | undefined;
  private readonly healthRouter: Router<RouteDeps> | undefined;
  private closing: Promise<void> | undefined;
  /** Waiting for the first `/readyz` 200 to be sent; undefined once it was. */
  private readyWaiters: (() => void)[] | undefined = [];
  /** Closes idle sessions (MEMORY_IDLE_CLOSE_SECONDS), or none. */
  private readonly idleClose: Periodic | undefined;

  constructor(
    readonly config: SidecarConfig,
    private readonly log: Logger,
  ) {
    this.metrics = createMetrics();
    this.backend = openStore(config, log, this.metrics);
    this.redis = this.backend.redis;
    this.store = this.backend.store;
    this.summarizer = config.summary && new Summarizer(this.store, config.summary, log);
    this.idleClose = idleCloser(this.store, config.idleCloseSeconds, log);
    this.streams = new StreamHub(
      redisTail({
        redis: this.redis,
        keys: this.store.keys,
        timeoutMs: config.redisTimeoutMs,
        decode: decodeEvent,
      }),
      {
        maxStreams: config.maxStreams,
        pollMs: config.streamPollMs,
        heartbeatMs: config.streamHeartbeatMs,
        readBytes: config.maxReadBytes,
      },
      log,
    );
    const counts = new TokenCounts();
    const deps: RouteDeps = {
      summarizer: this.summarizer,
      streams: this.streams,
      store: this.store,
      agentName: config.agentName,
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        text: await this.metrics.registry.metrics(),
      }),
      memoryV2: new MemoryV2({
        store: this.store,
        facts: factStore(config, this.redis),
        settings: config.v2,
        countTokens: counts.count,
      }),
      countTokens: counts.count,
    };
    const hooks = this.dispatchHooks();
    this.router = new Router(ROUTES, deps, {
      bodyLimitBytes: config.bodyLimitBytes,
      hosts: servedHosts(config.host),
      hooks,
    });
    this.metrics.countInFlight(() => this.router.inFlight());
    this.metrics.countQueued(() => this.router.queued());
    this.server = createServer(
      { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      this.router.listener,
    );
    this.metricsServer =
      config.metricsPort === 0
        ? undefined
        : createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => this.scrape(req, res));
    if (config.healthPort !== 0) {
      // The two probe routes alone: no API route is reachable through this listener.
      this.healthRouter = new Router(HEALTH_ROUTES, deps, {
        bodyLimitBytes: config.bodyLimitBytes,
        // Kubelet dials the pod IP and names it in Host.
        hosts: 'any',
        // Nothing asked here is logged: anyone on the pod network can ask.
        quiet: true,
        hooks,
      });
      this.healthServer = createServer(
        { requestTimeout: REQUEST_TIMEOUT_MS },
        this.healthRouter.listener,
      );
    }
  }

  /** What the routers report: counted in the metrics, failures logged, the first ready noted. */
  private dispatchHooks(): DispatchHooks {
    const { log, config } = this;
    return {
      responded: ({ route, method, status, seconds, quiet, failure }) => {
        this.metrics.observe(route, method, status, seconds);
        if (this.readyWaiters && status === 200 && route === '/readyz') this.firstReady();
        // Probes and scrapes are never logged: a Redis outage is one line of its own.
        if (quiet) return;
        // Nor do they wake the sampler: an idle pod is probed every ten seconds.
        this.metrics.loopDelay.busy();
        if (!failure) {
          log.debug({ method, route, status, ms: seconds * 1000 }, 'request');
          return;
        }
        // One line per failed request: what an operator greps for. Never a body.
        const fields = {
          route,
          method,
          status,
          code: failure.code,
          session: failure.session,
          agent: config.agentName,
          ms: seconds * 1000,
          ...causeFields(failure.cause),
        };
        if (status >= 500 && !(failure.cause instanceof StoreError) && failure.cause) {
          log.error(fields, 'request failed');
        } else if (status >= 500 || failure.cause instanceof StoreError) {
          log.warn(fields, 'request failed');
        } else {
          log.info(fields, 'request failed');
        }
      },
      failed: (err) => {
        if (err instanceof StoreError && !isOutcome(err.kind)) {
          this.metrics.redisErrors.inc({ kind: err.kind });
        }
      },
      abandoned: (count) => this.metrics.abandoned.inc(count),
      overflowed: (maxQueued) =>
        log.warn({ maxQueued }, 'closed a connection with too many requests pipelined'),
    };
  }

  /**
   * The metrics listener's only route. No Host check: Prometheus scrapes the pod IP,
   * and Prometheus text holds nothing a page could use.
   */
  private scrape(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    this.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text);
      },
      (err: unknown) => {
        this.log.error({ err }, 'metrics could not be collected');
        res.writeHead(500).end();
      },
    );
  }

  /**
   * Calls `then` once, right after the first `/readyz` 200 has been sent: work that must not
   * delay the pod's start, but should be done before the agent's requests arrive.
   */
  onceReady(then: () => void): void {
    if (this.readyWaiters) this.readyWaiters.push(then);
    else then();
  }

  private firstReady(): void {
    const waiters = this.readyWaiters ?? [];
    this.readyWaiters = undefined;
    for (const then of waiters) then();
  }

  /** Where the metrics listener listens, once started (undefined when it is off). */
  metricsAddress(): AddressInfo | undefined {
    return (this.metricsServer?.address() as AddressInfo | null) ?? undefined;
  }

  /** Connects to Redis (tolerating that it is down: readiness says so) and listens. */
  async start(): Promise<AddressInfo> {
    this.redis.connect().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'redis not reachable at start; retrying');
    });
    await listen(this.server, this.config.port, this.config.host);
    // Every interface (no host: `::` where the pod has IPv6, else 0.0.0.0): Prometheus
    // scrapes the pod IP. The API itself stays on loopback.
    if (this.metricsServer) await listen(this.metricsServer, this.config.metricsPort);
    // Every interface too: kubelet probes the pod IP.
    if (this.healthServer) await listen(this.healthServer, this.config.healthPort);
    this.idleClose?.start();
    return this.server.address() as AddressInfo;
  }

  /** Idempotent. Stops accepting, lets in-flight requests finish, then closes Redis. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.router.draining = true;
    if (this.healthRouter) this.healthRouter.draining = true;
    // Streams never end by themselves: end them, so their connections can close.
    this.streams.close();
    this.idleClose?.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // A scrape in flight is not worth waiting for.
    this.metricsServer?.close();
    this.metricsServer?.closeAllConnections();
    // Nor a probe: kubelet sees the container stop either way.
    this.healthServer?.close();
    this.healthServer?.closeAllConnections();
    const force = setTimeout(
      () => this.server.closeAllConnections(),
      this.config.shutdownTimeoutMs,
    );
    await closed;
    clearTimeout(force);
    await this.summarizer?.close();
    await this.backend.close();
    this.metrics.loopDelay.close();
  }
}

/**
 * Every sidecar of a store closes idle sessions (the event's id comes from the last
 * update, so two sidecars store it once), a quarter of the idle time apart, at most a
 * minute.
 */
function idleCloser(store: MemoryStore, idleSeconds: number, log: Logger): Periodic | undefined {
  if (idleSeconds <= 0) return undefined;
  const holds = new SessionHolds(store);
  return new Periodic(
    async () => {
      const closed = await holds.closeIdle(idleSeconds);
      if (closed > 0) log.info({ closed, idleSeconds }, 'idle sessions closed');
    },
    {
      everyMs: Math.min(60_000, Math.max(1_000, (idleSeconds * 1000) / 4)),
      backoff: { firstMs: 1_000, maxMs: 60_000 },
      onError: (err) => log.warn({ err: (err as Error).message }, 'could not close idle sessions'),
    },
  );
}

function listen(server: Server, port: number, host?: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A failed request's cause, as log fields: a Redis failure's kind, or an unexpected error. */
function causeFields(cause: unknown): Record<string, unknown> {
  if (cause instanceof StoreError) {
    // Redis's own reply (WRONGPASS…, OOM…, READONLY…) says why; it never holds a secret.
    const redis = cause.cause instanceof Error ? cause.cause.message : undefined;
    return { kind: cause.kind, reason: cause.message, ...(redis ? { redis } : {}) };
  }
  if (cause === undefined || cause instanceof ApiError) return {};
  return { err: cause };
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

/** Memory v2's long-term facts, under the sidecar's key prefix and limits. */
function factStore(config: SidecarConfig, redis: RedisClient): FactStore {
  return new FactStore(redis, {
    keyPrefix: config.keyPrefix,
    maxFacts: config.v2.maxFacts,
    maxPerScope: config.v2.maxFactsPerScope,
    ttlSeconds: config.v2.factTtlSeconds,
    timeoutMs: config.redisTimeoutMs,
    minReplicas: config.redisMinReplicas,
    maxReadBytes: config.maxReadBytes,
  });
}
