// The event loop's delay, sampled only while the sidecar serves. A sampler's timer wakes the
// process at every sample whether or not anyone asks it anything, and most agent pods are
// idle most of the day: prom-client's, at 10 ms, cost an idle pod ~8 ms of CPU a second
// (decision 0042). So this one runs from a request until a few seconds after the last one,
// at prom-client's resolution, and an idle sidecar sleeps until its next request or probe.
// The gauges are prom-client's eventLoopLag names, read and reset at each scrape.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** The sampler's period while it runs: prom-client's default. */
const SAMPLE_MS = 10;
/** How long the sampler runs on after the last request. */
const RUN_ON_MS = 5_000;
const NS_PER_S = 1e9;

export class LoopDelay {
  private readonly histogram = monitorEventLoopDelay({ resolution: SAMPLE_MS });
  private running = false;
  private lastBusy = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    registry: Registry,
    prefix: string,
    private readonly runOnMs = RUN_ON_MS,
  ) {
    const histogram = this.histogram;
    const gauge = (name: string, help: string, collect?: (this: Gauge) => void) =>
      new Gauge({
        name: `${prefix}nodejs_eventloop_lag_${name}`,
        help,
        registers: [registry],
        ...(collect && { collect }),
      });
    // As prom-client does: the first gauge's collect sets them all, then starts the next
    // scrape's histogram.
    const stats: [Gauge, () => number][] = [];
    gauge(
      'seconds',
      'Lag of event loop in seconds: how late a callback queued at the previous scrape ran.',
      function collect() {
        const queued = process.hrtime.bigint();
        setImmediate(() => this.set(Number(process.hrtime.bigint() - queued) / NS_PER_S));
        // No sample since the last scrape (it was idle): no delay, not the empty extremes.
        const any = histogram.count > 0;
        for (const [g, read] of stats) g.set(any ? read() / NS_PER_S : 0);
        histogram.reset();
      },
    );
    const stat = (name: string, help: string, read: () => number) =>
      stats.push([gauge(name, help), read]);
    stat('min_seconds', 'The minimum recorded event loop delay.', () => histogram.min);
    stat('max_seconds', 'The maximum recorded event loop delay.', () => histogram.max);
    stat('mean_seconds', 'The mean of the recorded event loop delays.', () => histogram.mean);
    stat(
      'stddev_seconds',
      'The standard deviation of the recorded event loop delays.',
      () => histogram.stddev,
    );
    for (const p of [50, 90, 99]) {
      stat(`p${p}_seconds`, `The ${p}th percentile of the recorded event loop delays.`, () =>
        histogram.percentile(p),
      );
    }
  }

  /** A request was served: sample from now until `runOnMs` after the last one. */
  busy(): void {
    this.lastBusy = performance.now();
    if (this.running) return;
    this.running = true;
    this.histogram.enable();
    this.stopLater(this.runOnMs);
  }

  /** Whether the sampler's timer is running now. */
  get sampling(): boolean {
    return this.running;
  }

  close(): void {
    clearTimeout(this.timer);
    this.stop();
  }

  private stop(): void {
    this.histogram.disable();
    this.running = false;
  }

  private stopLater(ms: number): void {
    this.timer = setTimeout(() => {
      const quiet = performance.now() - this.lastBusy;
      if (quiet < this.runOnMs) return this.stopLater(this.runOnMs - quiet);
      this.stop();
    }, ms);
    // Never what keeps the process alive.
    this.timer.unref();
  }
}
