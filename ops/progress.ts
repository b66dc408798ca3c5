// Progress of a long run on stderr (stdout carries the data): at most one line a
// second while it runs, and one closing line.
import type { Writable } from 'node:stream';

const EVERY_MS = 1_000;

export class Progress {
  private count = 0;
  private last = 0;
  private readonly started = Date.now();

  constructor(
    private readonly out: Writable | undefined,
    /** What is counted, e.g. "sessions exported". */
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {
    this.last = this.now();
  }

  get total(): number {
    return this.count;
  }

  add(n = 1): void {
    this.count += n;
    const t = this.now();
    if (t - this.last >= EVERY_MS) {
      this.last = t;
      this.out?.write(`${this.line()}\n`);
    }
  }

  /** The closing line; written whether or not progress lines were. */
  done(extra = ''): void {
    this.out?.write(`${this.line()}${extra}, done\n`);
  }

  private line(): string {
    const seconds = Math.max((this.now() - this.started) / 1000, 0.001);
    return `${this.count} ${this.what} (${Math.round(this.count / seconds)}/s, ${seconds.toFixed(1)} s)`;
  }
}
