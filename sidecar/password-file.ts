// The Redis password as a file (MEMORY_REDIS_PASSWORD_FILE): the pod's copy of the
// password Secret mounted as a volume. The kubelet replaces a changed Secret in place by
// swapping a `..data` symlink, which file watchers do not always report, so a watch on
// the folder is backed by a re-read every few seconds (as webhook/tls.ts does for
// certificates). Each new value goes to `onChange`; the value itself is never logged.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../lib/logger.js';

/** How often the file is re-read in case the watcher missed a swap. */
const REREAD_EVERY_MS = 5_000;
/** A swap fires several events; read once they have settled this long. */
const SETTLE_MS = 100;

/**
 * The password in `path`, exactly as stored (a Secret's bytes, no trimming, as a
 * secretKeyRef would give them); undefined when the file is missing, unreadable or empty.
 */
export function readPasswordFile(path: string): string | undefined {
  try {
    const value = readFileSync(path, 'utf8');
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

export class PasswordFile {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private unreadable = false;
  private stopped = false;

  /** `current` is the password in use now; only a different one is reported. */
  constructor(
    readonly path: string,
    private current: string | undefined,
    private readonly log: Logger,
    private readonly onChange: (password: string) => Promise<void> | void,
    private readonly rereadMs = REREAD_EVERY_MS,
  ) {}

  start(): void {
    try {
      this.watcher = watch(dirname(this.path), () => this.schedule());
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // No folder to watch (yet): the periodic re-read still finds the file.
    }
    this.timer = setInterval(() => this.check(), this.rereadMs);
    this.timer.unref();
  }

  /** Idempotent. */
  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Reads the file now; exposed so tests need not wait for the timer. */
  check(): void {
    if (this.stopped) return;
    const next = readPasswordFile(this.path);
    if (next === undefined) {
      if (!this.unreadable) {
        this.log.warn(
          { file: this.path },
          'redis password file missing or empty; keeping the current password',
        );
      }
      this.unreadable = true;
      return;
    }
    this.unreadable = false;
    if (next === this.current) return;
    this.current = next;
    void Promise.resolve(this.onChange(next)).catch((err: unknown) =>
      this.log.error({ err }, 'applying the new redis password failed'),
    );
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), SETTLE_MS);
    this.debounce.unref();
  }
}
