// A value read from a volume mounted from a Secret (a password, a certificate), followed
// while the process runs. The kubelet updates such a volume by swapping a `..data`
// symlink, which file watchers do not always report, so a watch on the folder is backed
// by a re-read every `rereadMs`. Only a value different from the one in use is handed
// on; an unreadable or invalid one is reported once and the one in use is kept.
import { watch, type FSWatcher } from 'node:fs';
import { Periodic } from './periodic.js';

/** A swap fires several events; read once they have settled this long. */
const SETTLE_MS = 100;

export interface MountedOptions<T> {
  /** The folder to watch: the volume's mount point. */
  dir: string;
  /** Reads the value; throws (or rejects) when it is missing or invalid. */
  read: () => T | Promise<T>;
  /** The value in use; only a different one is handed to `onChange`. */
  current?: T;
  /** Whether two values are the same (default `===`). */
  same?: (a: T, b: T) => boolean;
  /**
   * A new value was read. `false`: not taken yet (e.g. a server refused it): the next
   * re-read hands on what the file holds then, the same value or another.
   */
  onChange: (next: T) => boolean | void | Promise<boolean | void>;
  /** A read failed (reported once until a read succeeds again); the value in use stays. */
  onUnreadable: (err: unknown) => void;
  /** `onChange` failed (default: `onUnreadable`). */
  onChangeFailed?: (err: unknown) => void;
  /** How often the value is re-read in case the watcher missed a swap. */
  rereadMs: number;
  /** The folder cannot be watched: the re-read alone follows it. */
  onWatchError?: (err: unknown) => void;
}

export class MountedValue<T> {
  private readonly reread: Periodic;
  private watcher?: FSWatcher;
  private debounce?: NodeJS.Timeout;
  private current: T | undefined;
  private failing = false;

  constructor(private readonly options: MountedOptions<T>) {
    this.current = options.current;
    // One loop for the watcher's reads and the re-reads, so two reads never overlap.
    // Errors never reach it: `read` reports them itself.
    this.reread = new Periodic(() => this.readOnce(), {
      everyMs: options.rereadMs,
      onError: options.onUnreadable,
    });
  }

  start(): void {
    try {
      this.watcher = watch(this.options.dir, () => this.schedule());
      this.watcher.on('error', (err) => {
        this.watcher?.close();
        this.options.onWatchError?.(err);
      });
      this.watcher.unref();
    } catch (err) {
      // No folder to watch (yet): the re-read still finds the value.
      this.options.onWatchError?.(err);
    }
    this.reread.start();
  }

  /** Idempotent. */
  stop(): void {
    this.watcher?.close();
    this.reread.stop();
    clearTimeout(this.debounce);
  }

  /** Reads the value now; exposed so tests need not wait for the timer. */
  check(): Promise<void> {
    return this.reread.runNow();
  }

  private async readOnce(): Promise<void> {
    let next: T;
    try {
      next = await this.options.read();
    } catch (err) {
      if (!this.failing) this.options.onUnreadable(err);
      this.failing = true;
      return;
    }
    this.failing = false;
    const current = this.current;
    const same = this.options.same ?? ((a: T, b: T) => a === b);
    if (current !== undefined && same(current, next)) return;
    this.current = next;
    try {
      // Not taken: what is in use is unknown now, so the next read is handed on, whatever it is.
      if ((await this.options.onChange(next)) === false) this.current = undefined;
    } catch (err) {
      (this.options.onChangeFailed ?? this.options.onUnreadable)(err);
    }
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reread.runNow(), SETTLE_MS);
    this.debounce.unref();
  }
}
