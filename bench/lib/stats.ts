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

/**
 * Per-field medians over rounds of one measurement: counts and errors summed, max the
 * largest, every other number the median.
 */
export function medianOf<T extends Summary>(rounds: readonly T[]): T {
  const first = rounds[0];
  if (first === undefined) throw new Error('medianOf: no rounds');
  const out: Record<string, number> = {};
  for (const key of Object.keys(first)) {
    const values = rounds.map((round) => (round as unknown as Record<string, number>)[key] ?? NaN);
    if (key === 'count' || key === 'errors') out[key] = values.reduce((a, b) => a + b, 0);
    else if (key === 'max') out[key] = Math.max(...values);
    else out[key] = median(values);
  }
  return out as unknown as T;
}

/**
 * `rounds` rounds of every step in `steps`, each round's results by the step's name. The order
 * is rotated each round (the steps' own order first): measuring the same things in the same
 * order every round would hand whatever the first one leaves behind (garbage, a warm cache, the
 * machine's next burst) to the second every time.
 */
export async function inRotatedRounds<T extends Record<string, unknown>>(
  rounds: number,
  steps: { [K in keyof T]: () => Promise<T[K]> },
): Promise<T[]> {
  const names = Object.keys(steps) as (keyof T)[];
  const results: T[] = [];
  for (let round = 0; round < rounds; round++) {
    const at = round % names.length;
    const measured: Partial<T> = {};
    for (const name of [...names.slice(at), ...names.slice(0, at)]) {
      measured[name] = await steps[name]();
    }
    results.push(measured as T);
  }
  return results;
}
