import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import { ERRORS, type ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { answerBytes, review, type Reviewed } from './admission.js';
import type { InjectConfig } from './config.js';
import { WebhookMetrics } from './metrics.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface WebhookServerOptions {
  inject: InjectConfig;
  tls: TlsMaterial;
  logger: Logger;
  /** /readyz answers 200 only while this is true (e.g. once the caBundle is in place). */
  isReady?: () => boolean;
  /**
   * Replaces the admission logic: the benchmark's no-op, and the credential copies
   * (webhook/credentials.ts), which make sure a Secret exists before answering.
   */
  reviewer?: (body: unknown, config: InjectConfig) => Reviewed | Promise<Reviewed>;
  /** Largest accepted AdmissionReview. */
  bodyLimit?: string;
}

// Kubernetes sends at most ~3 MiB objects; an AdmissionReview can carry two of them.
const DEFAULT_BODY_LIMIT = '8mb';
// The API server keeps connections open between reviews; outlive its idle timeout, so the
// webhook does not close a connection just as the API server reuses it.
const KEEP_ALIVE_MS = 65_000;
// Above keepAliveTimeout, so a kept-alive connection's next request is not cut short.
const HEADERS_TIMEOUT_MS = KEEP_ALIVE_MS + 1_000;
// On close, requests in flight get this long before their connections are cut.
const CLOSE_GRACE_MS = 5_000;

/** body-parser's failures by `type`, as the catalogue's codes (the sidecar's for the same thing). */
const BODY_ERRORS: Record<string, ErrorCode> = {
  'entity.too.large': 'payload_too_large',
  'charset.unsupported': 'unsupported_media_type',
  'encoding.unsupported': 'unsupported_media_type',
};

/** An error answer as the sidecar gives it: the catalogue's status, `{"error": {"code", "message"}}`. */
function sendError(res: Response, code: ErrorCode, message: string = ERRORS[code].message): void {
  res.status(ERRORS[code].status).json({ error: { code, message } });
}

/** Express routes for the webhook. */
function createApp(
  options: WebhookServerOptions,
  metrics: WebhookMetrics,
  draining: () => boolean,
): Express {
  const { logger, inject } = options;
  const reviewer = options.reviewer ?? review;
  const isReady = options.isReady ?? (() => true);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // While draining, every answer closes its connection: the API server's next review
  // opens a new one, to an endpoint that is not going away.
  app.use((_req, res, next) => {
    if (draining()) res.setHeader('Connection', 'close');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    if (isReady() && !draining()) res.type('text/plain').send('ok');
    else res.status(503).type('text/plain').send('not ready');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // Parse whatever the caller labels the body as: a body that isn't JSON is a 400 either way.
  const json = express.json({ limit: options.bodyLimit ?? DEFAULT_BODY_LIMIT, type: () => true });
  app.post('/mutate', json, async (req, res) => {
    const started = process.hrtime.bigint();
    const reviewed = await reviewer(req.body, inject);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.duration.observe(seconds);
    metrics.requests.inc({ code: reviewed.status });
    if (reviewed.status === 400) {
      logger.info(
        { status: 400, result: 'rejected', reason: 'malformed-review', message: reviewed.message },
        'rejected a malformed admission request',
      );
      sendError(res, 'bad_request', reviewed.message);
      return;
    }
    metrics.record(reviewed.outcome);
    const { outcome, context } = reviewed;
    // One line per admission decision: who asked about which pod, what was decided and why.
    if (outcome.result === 'failed') {
      logger.error(
        {
          ...context,
          result: 'failed',
          reason: 'internal-error',
          ms: seconds * 1000,
          err: outcome.error,
        },
        'injection failed; pod admitted without the sidecar',
      );
    } else {
      const reason = outcome.result === 'skipped' ? outcome.reason : 'injected';
      logger.info(
        { ...context, result: outcome.result, reason, ms: seconds * 1000 },
        'admission reviewed',
      );
    }
    // What res.json would send, as review() wrote it already where it could.
    res.set('Content-Type', 'application/json; charset=utf-8').send(answerBytes(reviewed.body));
  });

  app.use((_req, res) => sendError(res, 'not_found', 'no such route'));
  const onError: ErrorRequestHandler = (
    err: { status?: number; type?: string; message?: string },
    _req,
    res,
    _next,
  ) => {
    const clientError = typeof err.status === 'number' && err.status >= 400 && err.status < 500;
    const code = clientError ? (BODY_ERRORS[err.type ?? ''] ?? 'bad_request') : 'internal';
    metrics.requests.inc({ code: ERRORS[code].status });
    if (code === 'internal') {
      logger.error({ err }, 'unexpected error');
      sendError(res, code);
      return;
    }
    sendError(res, code, `invalid request body: ${err.message ?? 'unreadable'}`);
  };
  app.use(onError);
  return app;
}

/** The HTTPS server: TLS 1.2 or newer, with a certificate that can be swapped while running. */
export class WebhookServer {
  readonly metrics: WebhookMetrics;
  private readonly server: Server;
  private closing?: Promise<void>;
  private draining = false;

  constructor(options: WebhookServerOptions & { defaultMetrics?: boolean }) {
    this.metrics = new WebhookMetrics(options.defaultMetrics ?? true);
    this.metrics.servingCertificate(options.tls.cert);
    const app = createApp(options, this.metrics, () => this.draining);
    this.server = createServer({ ...options.tls, minVersion: 'TLSv1.2' }, app);
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    this.server.headersTimeout = HEADERS_TIMEOUT_MS;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Serve a new certificate to new connections; existing ones keep theirs. */
  setCertificate(tls: TlsMaterial): void {
    this.server.setSecureContext({ ...tls, minVersion: 'TLSv1.2' });
    this.metrics.servingCertificate(tls.cert);
  }

  /**
   * Stopping in a cluster: the API server keeps sending reviews to this pod until the
   * endpoint's removal reaches it, so go on answering for `ms` (not ready, each
   * connection closed after its answer), then close. Idle kept-alive connections stay
   * open until then: the API server may be writing its next review on one, and a
   * connection cut under that write is a failed call (with failurePolicy Fail, a refused
   * pod), where an answer that says `Connection: close` is not.
   */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    await this.close();
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS).unref();
    });
    return this.closing;
  }
}
