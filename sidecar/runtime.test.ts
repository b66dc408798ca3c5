import { describe, expect, it } from 'vitest';
import { compactHeapOnce } from './runtime.js';

describe('compactHeapOnce', () => {
  it('collects without giving the process a global gc, and may run again', () => {
    const garbage = Array.from({ length: 10_000 }, (_, i) => ({ i, text: `entry ${i}` }));
    expect(garbage).toHaveLength(10_000);
    compactHeapOnce();
    compactHeapOnce();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
