// Latency samples kept whole (a few hundred thousand floats per cell), so the
// percentiles are exact rather than bucketed.

export class Samples {
  private data = new Float64Array(1 << 16);
  private n = 0;
  errors = 0;

  /** One completed operation's latency in milliseconds. */
  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  summary(seconds: number): Summary {
    const sorted = this.data.slice(0, this.n).sort();
    return {
      count: this.n,
      errors: this.errors,
      perSecond: this.n / seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: this.n > 0 ? (sorted[this.n - 1] ?? NaN) : NaN,
    };
  }
}

export interface Summary {
  count: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

export function median(values: number[]): number {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** Milliseconds since `start` (a process.hrtime.bigint() reading). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
