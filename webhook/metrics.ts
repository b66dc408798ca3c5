import { X509Certificate } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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
    // Up to the API server's 10 s ceiling on timeoutSeconds, so latency near the
    // configured timeout (the chart's default is 5 s) is visible to an alert.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'kaos_memory_webhook_certificate_expiry_timestamp_seconds',
    help: 'When the serving certificate the webhook presents expires (Unix seconds)',
    registers: [this.registry],
  });
  // Lets an operator see the loop is alive and failing, and a test wait for rounds.
  readonly credentialRounds = new Counter({
    name: 'kaos_memory_webhook_credential_sync_rounds_total',
    help: 'Rounds of the password copies loop, by result (synced, standby, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Records when `cert` (PEM; the first of a chain) expires. */
  servingCertificate(cert: string): void {
    try {
      this.certificateExpiry.set(Date.parse(new X509Certificate(cert).validTo) / 1000);
    } catch {
      // Unparsable: node:tls refuses it before this matters.
    }
  }

  record(outcome: Outcome): void {
    if (outcome.result === 'injected') this.injected.inc();
    else if (outcome.result === 'skipped') this.skipped.inc({ reason: outcome.reason });
    else this.failed.inc();
  }
}
