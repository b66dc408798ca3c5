import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../lib/logger.js';
import { ensureCertificate, type ManagedCertificateOptions } from './selfcert.js';
import type { TlsMaterial } from './server.js';

type OnChange = (tls: TlsMaterial) => void;

/** How often a mounted folder is re-read, in case the watcher missed a swap. */
const RELOAD_EVERY_MS = 10_000;
/** A swap fires several events; reload once they have settled this long. */
const SETTLE_MS = 100;
/** How often the self-managed certificate and the caBundle are checked. */
const CHECK_EVERY_MS = 60_000;
/** After a failure, retry after 2 s, 4 s, … up to 32 s (and never later than a check). */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 32_000;
/** Never check again sooner than this, even when renewal is due at once. */
const MIN_DELAY_MS = 1_000;

/**
 * Certificates mounted from a Secret (cert-manager or any other). Kubernetes updates a
 * secret volume by swapping a symlink, which fs.watch does not always report, so a
 * periodic re-read backs the watcher up.
 */
export class TlsDirWatcher {
  private current?: TlsMaterial;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly onChange: OnChange,
    private readonly pollMs = RELOAD_EVERY_MS,
  ) {}

  /** Read tls.crt and tls.key; throws when they are absent or do not match. */
  async load(): Promise<TlsMaterial> {
    const [cert, key] = await Promise.all([
      readFile(join(this.dir, 'tls.crt'), 'utf8'),
      readFile(join(this.dir, 'tls.key'), 'utf8'),
    ]);
    createSecureContext({ cert, key }); // Throws on a key that doesn't match the certificate.
    this.current = { cert, key };
    return this.current;
  }

  start(): void {
    try {
      this.watcher = watch(this.dir, () => this.schedule());
      this.watcher.on('error', (err) =>
        this.logger.warn({ err }, 'watching the TLS folder failed; polling only'),
      );
    } catch (err) {
      this.logger.warn({ err, dir: this.dir }, 'cannot watch the TLS folder; polling only');
    }
    this.timer = setInterval(() => void this.reload(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  // Several events arrive per swap; act once they settle.
  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), SETTLE_MS);
    this.debounce.unref();
  }

  private async reload(): Promise<void> {
    const before = this.current;
    try {
      const next = await this.load();
      if (next.cert === before?.cert && next.key === before.key) return;
      this.onChange(next);
      this.logger.info({ dir: this.dir }, 'serving the renewed certificate');
    } catch (err) {
      this.current = before;
      this.logger.warn(
        { err, dir: this.dir },
        'TLS files unreadable or mismatched; keeping the current certificate',
      );
    }
  }
}

/**
 * A certificate the webhook manages itself in a Secret: obtained (with retries) at start,
 * checked every `intervalMs` (renewal, another replica's renewal, a caBundle reset by a
 * chart upgrade) and handed to `onChange` whenever it differs from the one served.
 */
export class SelfManagedTls {
  private served?: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  ready = false;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly options: ManagedCertificateOptions & { webhookConfigName: string },
    private readonly logger: Logger,
    private readonly onChange: OnChange,
    private readonly intervalMs = CHECK_EVERY_MS,
  ) {}

  start(): void {
    void this.sync();
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One round; exposed so tests can drive it without waiting for the timer. */
  async sync(): Promise<void> {
    let delay = this.intervalMs;
    try {
      const stored = await ensureCertificate(this.kubeConfig, this.options);
      if (stored.cert !== this.served) {
        this.onChange({ cert: stored.cert, key: stored.key });
        this.served = stored.cert;
        this.logger.info(
          { renewAt: stored.renewAt.toISOString() },
          'serving the certificate from the Secret',
        );
      }
      if (!this.ready) this.logger.info('caBundle in place; ready');
      this.ready = true;
      this.failures = 0;
      const untilRenewal = stored.renewAt.getTime() - this.now().getTime();
      delay = Math.max(MIN_DELAY_MS, Math.min(delay, untilRenewal));
    } catch (err) {
      this.failures++;
      const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.failures - 1));
      delay = Math.min(this.intervalMs, backoff);
      this.logger.warn({ err, retryInMs: delay }, 'could not ensure the webhook certificate');
    }
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.sync(), delay);
    this.timer.unref();
  }
}
