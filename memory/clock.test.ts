import { describe, expect, it } from 'vitest';
import { fromMicros, now } from './clock.js';

describe('clock', () => {
  it('formats like Python datetime.isoformat() in UTC, with microseconds', () => {
    expect(fromMicros(1_771_322_400_123_456)).toEqual({
      iso: '2026-02-17T10:00:00.123456+00:00',
      score: 1_771_322_400.123456,
    });
    expect(fromMicros(1_771_322_400_000_007).iso).toBe('2026-02-17T10:00:00.000007+00:00');
  });

  it('is close to the wall clock and never goes back within a process', () => {
    const a = now();
    const b = now();
    expect(Math.abs(a.score - Date.now() / 1000)).toBeLessThan(1);
    expect(b.score).toBeGreaterThanOrEqual(a.score);
    expect(a.iso).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  });
});
