// A task run again and again in the background: each round starts a delay after the
// previous one ended, so rounds never overlap, and a round may ask for its next one
// sooner (a certificate due for renewal). Failed rounds are reported and, with a
// backoff, retried sooner than the period. Timers never keep the process alive.

export interface PeriodicOptions {
  /** Delay between the end of a round and the start of the next. */
  everyMs: number;
  /** After a failure, retry after `firstMs`, doubling up to `maxMs` (never later than `everyMs`). */
  backoff?: { firstMs: number; maxMs: number };
  /** A round failed; the next one starts in `retryInMs`. */
  onError: (err: unknown, retryInMs: number) => void;
}

/** What a round returns: nothing, or how soon the next round is due (capped at `everyMs`). */
export type Round = () => Promise<number | void> | number | void;

export class Periodic {
  private timer?: NodeJS.Timeout;
  private last: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly round: Round,
    private readonly options: PeriodicOptions,
  ) {}

  /** Runs the first round now, then keeps going until `stop`. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.runNow();
  }

  /** Idempotent. A round in flight finishes; none follows. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** A round now, after the one in flight (tests drive a task with this instead of its timer). */
  runNow(): Promise<void> {
    clearTimeout(this.timer);
    this.last = this.last.then(() => this.once());
    return this.last;
  }

  private async once(): Promise<void> {
    let delay = this.options.everyMs;
    try {
      const due = await this.round();
      this.failures = 0;
      if (typeof due === 'number') delay = Math.max(0, Math.min(delay, due));
    } catch (err) {
      this.failures++;
      const backoff = this.options.backoff;
      if (backoff) {
        delay = Math.min(delay, backoff.maxMs, backoff.firstMs * 2 ** (this.failures - 1));
      }
      this.options.onError(err, delay);
    }
    if (!this.started || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runNow(), delay);
    this.timer.unref();
  }
}
