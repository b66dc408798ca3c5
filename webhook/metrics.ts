import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from './admission.js';

/** The webhook's Prometheus metrics, in a registry of their own (tests run many servers). */
export class WebhookMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'kaos_memory_webhook_requests_total',
    help: 'Admission requests received on /mutate, by HTTP status',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly injected = new Counter({
    name: 'kaos_memory_webhook_injected_total',
    help: 'Pods that got the memory sidecar',
    registers: [this.registry],
  });
  readonly skipped = new Counter({
    name: 'kaos_memory_webhook_skipped_total',
    help: 'Admission requests answered without injection, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: 'kaos_memory_webhook_failed_total',
    help: 'Pods admitted uninjected because of an internal error',
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'kaos_memory_webhook_request_duration_seconds',
    help: 'Time to answer an admission request on /mutate',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  record(outcome: Outcome): void {
    if (outcome.result === 'injected') this.injected.inc();
    else if (outcome.result === 'skipped') this.skipped.inc({ reason: outcome.reason });
    else this.failed.inc();
  }
}
