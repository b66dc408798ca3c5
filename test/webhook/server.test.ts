// The webhook's HTTPS server over real TLS, with certificates from certs/.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { Writable } from 'node:stream';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { review } from '../../webhook/admission.js';
import { loadConfig } from '../../webhook/config.js';
import { CredentialError, withCredentialCopies } from '../../webhook/credentials.js';
import { WebhookServer } from '../../webhook/server.js';
import { call, loopbackCerts } from './client.js';

const fixture = (name: string) =>
  readFileSync(new URL(`fixtures/${name}.json`, import.meta.url), 'utf8');

const env = { INJECT_REDIS_URL: 'redis://r:6379', INJECT_SIDECAR_IMAGE: 'kaos-memory:test' };
const inject = { ...loadConfig(env).inject, nativeSidecar: true };

describe('webhook HTTPS server', () => {
  const certs = loopbackCerts();
  let ready = false;
  let server: WebhookServer;
  let port: number;
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });

  beforeAll(async () => {
    server = new WebhookServer({
      inject,
      tls: certs.tls,
      logger: pino({ level: 'info' }, sink),
      isReady: () => ready,
    });
    port = await server.listen(0, '127.0.0.1');
  });
  afterAll(() => server.close());

  it('answers /healthz always and /readyz only once ready', async () => {
    expect((await call(port, 'GET', '/healthz', certs)).status).toBe(200);
    expect((await call(port, 'GET', '/readyz', certs)).status).toBe(503);
    ready = true;
    expect((await call(port, 'GET', '/readyz', certs)).status).toBe(200);
  });

  it('mutates an agent pod posted as an AdmissionReview', async () => {
    const body = fixture('01-kaos-operator-agent');
    const reply = await call(port, 'POST', '/mutate', { ...certs, body });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    const review = JSON.parse(reply.text);
    expect(review).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: JSON.parse(body).request.uid, allowed: true, patchType: 'JSONPatch' },
    });
    const patch = JSON.parse(Buffer.from(review.response.patch, 'base64').toString());
    expect(patch.at(-1).value[0].name).toBe('kaos-memory');
  });

  it('counts requests, injections, skips by reason and latency in /metrics', async () => {
    await call(port, 'POST', '/mutate', { ...certs, body: fixture('12-opt-out') });
    await call(port, 'POST', '/mutate', { ...certs, body: fixture('13-no-agent-label') });
    await call(port, 'POST', '/mutate', { ...certs, body: '{"nope":' });
    const metrics = (await call(port, 'GET', '/metrics', certs)).text;
    expect(metrics).toContain('kaos_memory_webhook_requests_total{code="200"} 3');
    expect(metrics).toContain('kaos_memory_webhook_requests_total{code="400"} 1');
    expect(metrics).toContain('kaos_memory_webhook_injected_total 1');
    expect(metrics).toContain('kaos_memory_webhook_skipped_total{reason="opted-out"} 1');
    expect(metrics).toContain('kaos_memory_webhook_skipped_total{reason="no-agent-label"} 1');
    expect(metrics).toContain('kaos_memory_webhook_failed_total 0');
    expect(metrics).toContain('kaos_memory_webhook_request_duration_seconds_count 3');
    expect(metrics).toContain('process_cpu_seconds_total');
  });

  it('logs one line per admission decision: pod, namespace, agent, result and reason code', async () => {
    lines.length = 0;
    await call(port, 'POST', '/mutate', { ...certs, body: fixture('01-kaos-operator-agent') });
    await call(port, 'POST', '/mutate', { ...certs, body: fixture('12-opt-out') });
    await call(port, 'POST', '/mutate', { ...certs, body: '{"kind":"AdmissionReview"}' });
    await call(port, 'GET', '/metrics', certs);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      msg: 'admission reviewed',
      namespace: 'agents',
      pod: expect.any(String),
      agent: 'memory-agent',
      result: 'injected',
      reason: 'injected',
      dryRun: false,
    });
    expect(lines[1]).toMatchObject({ result: 'skipped', reason: 'opted-out' });
    expect(lines[2]).toMatchObject({ status: 400, result: 'rejected', reason: 'malformed-review' });
    expect(JSON.stringify(lines)).not.toMatch(/redis:\/\//);
  });

  it('exports when its serving certificate expires, and follows a swap', async () => {
    const expiry = async () => {
      const text = (await call(port, 'GET', '/metrics', certs)).text;
      return Number(
        /^kaos_memory_webhook_certificate_expiry_timestamp_seconds (\S+)$/m.exec(text)?.[1],
      );
    };
    const validTo = (pem: string) => Date.parse(new X509Certificate(pem).validTo) / 1000;
    expect(await expiry()).toBe(validTo(certs.tls.cert));
    const { generateCertificates } = await import('../../certs/generate.js');
    const short = generateCertificates({
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      validityMs: 3_600_000,
    });
    server.setCertificate({ cert: short.tlsCert, key: short.tlsKey });
    const next = { ca: short.caCert, tls: { cert: short.tlsCert, key: short.tlsKey } };
    const text = (await call(port, 'GET', '/metrics', next)).text;
    expect(text).toContain(
      `kaos_memory_webhook_certificate_expiry_timestamp_seconds ${validTo(short.tlsCert)}`,
    );
    expect(text).toContain('kaos_memory_webhook_request_duration_seconds_bucket{le="5"}');
    server.setCertificate(certs.tls);
  });

  it('answers unknown routes and methods with a JSON 404', async () => {
    const reply = await call(port, 'GET', '/mutate', certs);
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.text)).toEqual({
      error: { code: 'not_found', message: 'no such route' },
    });
  });

  it('refuses TLS 1.1 and accepts TLS 1.2 and 1.3', async () => {
    const handshake = (version: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          ca: certs.ca,
          minVersion: version,
          maxVersion: version,
          ciphers: 'DEFAULT:@SECLEVEL=0',
        });
        socket.once('secureConnect', () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.end();
        });
        socket.once('error', () => resolve('refused'));
      });
    expect(await handshake('TLSv1.1')).toBe('refused');
    expect(await handshake('TLSv1.2')).toBe('TLSv1.2');
    expect(await handshake('TLSv1.3')).toBe('TLSv1.3');
  });

  it('keeps connections alive across reviews', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await call(port, 'POST', '/mutate', {
        ...certs,
        agent,
        body: fixture('02-named-pod'),
      });
      expect(reply.status).toBe(200);
      reused.push(reply.reused);
    }
    agent.destroy();
    expect(reused).toEqual([false, true, true, true, true]);
  });

  it('serves a new certificate to new connections without a restart', async () => {
    const before = await call(port, 'GET', '/healthz', certs);
    const next = loopbackCerts();
    server.setCertificate(next.tls);
    const after = await call(port, 'GET', '/healthz', next);
    expect(after.status).toBe(200);
    expect(after.serial).not.toBe(before.serial);
    await expect(call(port, 'GET', '/healthz', certs)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
    server.setCertificate(certs.tls);
  });
});

describe('webhook HTTPS server, draining', () => {
  const certs = loopbackCerts();

  it('answers a review sent on a kept-alive connection as the drain begins, and closes it after', async () => {
    const server = new WebhookServer({
      inject,
      tls: certs.tls,
      logger: pino({ level: 'silent' }),
      defaultMetrics: false,
    });
    const port = await server.listen(0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const review = { ...certs, agent, body: fixture('02-named-pod') };
    try {
      const before = await call(port, 'POST', '/mutate', review);
      expect(before.headers.connection).toBe('keep-alive');
      // The API server picks this idle connection for its next review just as the pod is
      // told to stop: cutting it then is a reset the API server reports as a failed call.
      const drained = server.drain(200);
      const during = await call(port, 'POST', '/mutate', review);
      expect(during).toMatchObject({ status: 200, reused: true });
      expect(during.headers.connection).toBe('close');
      await drained;
    } finally {
      agent.destroy();
      await server.close();
    }
  });
});

describe('webhook HTTPS server, a reviewer that changes the answer', () => {
  const certs = loopbackCerts();

  it('sends the answer the reviewer returns, not the one review() wrote first', async () => {
    // The password copy fails after review() has injected: the pod must go in untouched.
    const reviewer = withCredentialCopies(review, {
      ensure: () => Promise.reject(new CredentialError('the Redis password Secret is missing')),
    });
    const server = new WebhookServer({
      inject: { ...inject, passwordSecret: { name: 'kaos-memory-redis', key: 'password' } },
      tls: certs.tls,
      logger: pino({ level: 'silent' }),
      reviewer,
    });
    const port = await server.listen(0, '127.0.0.1');
    try {
      const body = fixture('01-kaos-operator-agent');
      const reply = await call(port, 'POST', '/mutate', { ...certs, body });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text).response).toEqual({
        uid: JSON.parse(body).request.uid,
        allowed: true,
        warnings: [
          'kaos-memory: the Redis password Secret is missing; the pod was admitted without the memory sidecar',
        ],
      });
    } finally {
      await server.close();
    }
  });
});
