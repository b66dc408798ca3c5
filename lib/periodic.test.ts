import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Periodic } from './periodic.js';

describe('Periodic', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('runs a round at start, then a period after each round ends, and none after stop', async () => {
    let rounds = 0;
    const task = new Periodic(() => void rounds++, { everyMs: 1_000, onError: () => undefined });
    task.start();
    task.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(rounds).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rounds).toBe(2);
    task.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rounds).toBe(2);
  });

  it('never overlaps rounds, and takes the sooner delay a round asks for', async () => {
    let release: () => void = () => undefined;
    const started: number[] = [];
    const task = new Periodic(
      async () => {
        started.push(Date.now());
        await new Promise<void>((resolve) => (release = resolve));
        return 50;
      },
      { everyMs: 1_000, onError: () => undefined },
    );
    task.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(started).toHaveLength(1);
    const more = task.runNow();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(started).toHaveLength(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toHaveLength(2);
    release();
    await more;
    await vi.advanceTimersByTimeAsync(50);
    expect(started).toHaveLength(3);
    expect((started[2] ?? 0) - (started[1] ?? 0)).toBe(50);
    task.stop();
    release();
  });

  it('backs off after failures, doubling up to the cap and never past the period, then recovers', async () => {
    const retries: number[] = [];
    let failing = true;
    const task = new Periodic(
      () => {
        if (failing) throw new Error('API server away');
      },
      {
        everyMs: 30_000,
        backoff: { firstMs: 2_000, maxMs: 16_000 },
        onError: (_err, retryInMs) => retries.push(retryInMs),
      },
    );
    task.start();
    await vi.advanceTimersByTimeAsync(2_000 + 4_000 + 8_000 + 16_000 + 16_000);
    expect(retries).toEqual([2_000, 4_000, 8_000, 16_000, 16_000, 16_000]);
    failing = false;
    await vi.advanceTimersByTimeAsync(16_000);
    expect(retries).toHaveLength(6);
    failing = true;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(retries.at(-1)).toBe(2_000);
    task.stop();
  });

  it('runs a round on demand without starting the loop', async () => {
    let rounds = 0;
    const task = new Periodic(() => void rounds++, { everyMs: 1_000, onError: () => undefined });
    await task.runNow();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rounds).toBe(1);
  });
});
