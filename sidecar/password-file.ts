// The Redis password as a file (MEMORY_REDIS_PASSWORD_FILE): the pod's copy of the
// password Secret mounted as a volume, followed as the kubelet updates it
// (lib/mounted.ts). Each new value goes to `onChange`; the value itself is never logged.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { MountedValue } from '../lib/mounted.js';

/** How often the file is re-read in case the watcher missed a swap. */
const REREAD_EVERY_MS = 5_000;

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
  private readonly mounted: MountedValue<string>;

  /** `current` is the password in use now; only a different one is reported. */
  constructor(
    readonly path: string,
    current: string | undefined,
    log: Logger,
    /** `false`: not taken yet; the same password is handed on again at the next re-read. */
    onChange: (password: string) => Promise<boolean | void> | boolean | void,
    rereadMs = REREAD_EVERY_MS,
  ) {
    this.mounted = new MountedValue({
      dir: dirname(path),
      read: () => {
        const value = readPasswordFile(path);
        if (value === undefined) throw new Error('missing or empty');
        return value;
      },
      current,
      onChange,
      onUnreadable: () =>
        log.warn(
          { file: path },
          'redis password file missing or empty; keeping the current password',
        ),
      onChangeFailed: (err) => log.error({ err }, 'applying the new redis password failed'),
      rereadMs,
    });
  }

  start(): void {
    this.mounted.start();
  }

  /** Idempotent. */
  stop(): void {
    this.mounted.stop();
  }

  /** Reads the file now; exposed so tests need not wait for the timer. */
  check(): Promise<void> {
    return this.mounted.check();
  }
}
