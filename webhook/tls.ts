// Where the webhook's serving certificate comes from: one interface, two sources (as
// cert-manager's webhook has), chosen once at start by webhook/main.ts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { generateCertificates } from '../certs/generate.js';
import type { Logger } from '../lib/logger.js';
import { MountedValue } from '../lib/mounted.js';
import { Periodic } from '../lib/periodic.js';
import { ensureCertificate, type ManagedCertificateOptions } from './selfcert.js';
import type { TlsMaterial } from './server.js';

/** A source of the serving certificate. */
export interface CertificateSource {
  /** The certificate to serve from the start. */
  load(): Promise<TlsMaterial>;
  /** Follows the source from now on, handing each new certificate to `serve`. */
  start(serve: (tls: TlsMaterial) => void): void;
  /** Idempotent. */
  stop(): void;
  /** Whether the API server trusts what is served: /readyz says 503 until then. */
  readonly ready: boolean;
}

export interface FileSourceOptions {
  /** How often the folder is re-read, in case the watcher missed a swap. Default 10 s. */
  rereadMs?: number;
}

/**
 * `tls.crt` and `tls.key` in a folder mounted from a Secret (cert-manager's or any
 * other), followed as the kubelet swaps it. A pair that is unreadable or does not
 * match is turned down and the current certificate kept.
 */
export class FileCertificateSource implements CertificateSource {
  readonly ready = true;
  private served?: TlsMaterial;
  private mounted?: MountedValue<TlsMaterial>;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly options: FileSourceOptions = {},
  ) {}

  /** Reads tls.crt and tls.key; throws when they are absent or do not match. */
  async load(): Promise<TlsMaterial> {
    const [cert, key] = await Promise.all([
      readFile(join(this.dir, 'tls.crt'), 'utf8'),
      readFile(join(this.dir, 'tls.key'), 'utf8'),
    ]);
    createSecureContext({ cert, key }); // Throws on a key that doesn't match the certificate.
    this.served = { cert, key };
    return this.served;
  }

  start(serve: (tls: TlsMaterial) => void): void {
    if (this.mounted) return;
    const dir = this.dir;
    this.mounted = new MountedValue({
      dir,
      read: () => this.load(),
      current: this.served,
      same: (a, b) => a.cert === b.cert && a.key === b.key,
      onChange: (tls) => {
        serve(tls);
        this.logger.info({ dir }, 'serving the renewed certificate');
      },
      onUnreadable: (err) =>
        this.logger.warn(
          { err, dir },
          'TLS files unreadable or mismatched; keeping the current certificate',
        ),
      onWatchError: (err) =>
        this.logger.warn({ err, dir }, 'cannot watch the TLS folder; re-reading it only'),
      rereadMs: this.options.rereadMs ?? 10_000,
    });
    this.mounted.start();
  }

  stop(): void {
    this.mounted?.stop();
  }
}

export interface SelfManagedSourceOptions extends ManagedCertificateOptions {
  /** The MutatingWebhookConfiguration whose caBundle must trust the certificate. */
  webhookConfigName: string;
  /** How often the certificate and the caBundle are checked. Default 60 s. */
  checkEveryMs?: number;
}

/** After a failure, retry after 2 s, 4 s, … up to 32 s (and never later than a check). */
const RETRY = { firstMs: 2_000, maxMs: 32_000 };
/** Never check again sooner than this, even when renewal is due at once. */
const MIN_DELAY_MS = 1_000;

/**
 * A certificate the webhook manages itself in a Secret shared by its replicas
 * (webhook/selfcert.ts). It serves a throwaway certificate (not ready) until the
 * shared one is in the Secret and the caBundle; then checks both every
 * `checkEveryMs` (renewal, another replica's renewal, a caBundle reset by a chart
 * upgrade), handing on whatever differs from the certificate served.
 */
export class SelfManagedCertificateSource implements CertificateSource {
  private trusted = false;
  private served?: string;
  private serve?: (tls: TlsMaterial) => void;
  private readonly loop: Periodic;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly options: SelfManagedSourceOptions,
    private readonly logger: Logger,
  ) {
    this.loop = new Periodic(() => this.round(), {
      everyMs: options.checkEveryMs ?? 60_000,
      backoff: RETRY,
      onError: (err, retryInMs) =>
        this.logger.warn({ err, retryInMs }, 'could not ensure the webhook certificate'),
    });
  }

  get ready(): boolean {
    return this.trusted;
  }

  /** A throwaway certificate for the right names, served until the shared one is in place. */
  load(): Promise<TlsMaterial> {
    const made = generateCertificates({ dns: this.options.dns, ips: this.options.ips });
    return Promise.resolve({ cert: made.tlsCert, key: made.tlsKey });
  }

  start(serve: (tls: TlsMaterial) => void): void {
    this.serve = serve;
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  /** One check now; exposed so tests can drive it without waiting for the timer. */
  sync(): Promise<void> {
    return this.loop.runNow();
  }

  /** Returns how soon the next check is due. */
  private async round(): Promise<number> {
    const stored = await ensureCertificate(this.kubeConfig, this.options);
    if (this.serve && stored.cert !== this.served) {
      this.serve({ cert: stored.cert, key: stored.key });
      this.served = stored.cert;
      this.logger.info(
        { renewAt: stored.renewAt.toISOString() },
        'serving the certificate from the Secret',
      );
    }
    if (!this.trusted) this.logger.info('caBundle in place; ready');
    this.trusted = true;
    const now = this.options.now?.() ?? new Date();
    return Math.max(MIN_DELAY_MS, stored.renewAt.getTime() - now.getTime());
  }
}
