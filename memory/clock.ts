import { performance } from 'node:perf_hooks';

/** A moment as KAOS stores it: ISO-8601 UTC with microseconds and offset, and epoch seconds. */
export interface Instant {
  iso: string;
  score: number;
}

/** Microsecond wall clock (Date alone has only milliseconds). */
export function now(): Instant {
  const micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return fromMicros(micros);
}

export function fromMicros(micros: number): Instant {
  const ms = Math.floor(micros / 1000);
  const frac = String(micros % 1_000_000).padStart(6, '0');
  const iso = `${new Date(ms).toISOString().slice(0, 19)}.${frac}+00:00`;
  return { iso, score: micros / 1_000_000 };
}
