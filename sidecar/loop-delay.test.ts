import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LoopDelay } from './loop-delay.js';

const PREFIX = 'test_';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let opened: LoopDelay[] = [];

afterEach(() => {
  for (const d of opened) d.close();
  opened = [];
});

function open(runOnMs: number): { delay: LoopDelay; registry: Registry } {
  const registry = new Registry();
  const delay = new LoopDelay(registry, PREFIX, runOnMs);
  opened.push(delay);
  return { delay, registry };
}

/** The gauges' values, by name, from one scrape. */
async function scrape(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await registry.metrics()).split('\n')) {
    const [name, value] = line.split(' ');
    if (name && value && !name.startsWith('#')) out[name] = Number(value);
  }
  return out;
}

describe('the event-loop delay sampler', () => {
  it('does not run until a request, and stops once requests stop', async () => {
    const { delay } = open(100);
    expect(delay.sampling).toBe(false);
    delay.busy();
    expect(delay.sampling).toBe(true);
    await sleep(60);
    // Another request keeps it running past the first one's window.
    delay.busy();
    await sleep(60);
    expect(delay.sampling).toBe(true);
    await sleep(150);
    expect(delay.sampling).toBe(false);
  });

  it("reports the loop's delay while it ran, and nothing for a scrape with no samples", async () => {
    const { delay, registry } = open(10_000);
    delay.busy();
    // Block the loop for 60 ms: the sampler's next timer runs that late.
    await sleep(30);
    const until = performance.now() + 60;
    while (performance.now() < until);
    await sleep(30);
    const busy = await scrape(registry);
    expect(busy[`${PREFIX}nodejs_eventloop_lag_max_seconds`]).toBeGreaterThan(0.04);
    expect(busy[`${PREFIX}nodejs_eventloop_lag_p50_seconds`]).toBeGreaterThan(0);
    delay.close();
    const idle = await scrape(registry);
    expect(idle[`${PREFIX}nodejs_eventloop_lag_max_seconds`]).toBe(0);
    expect(idle[`${PREFIX}nodejs_eventloop_lag_min_seconds`]).toBe(0);
  });
});
