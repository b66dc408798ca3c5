// The webhook's HTTPS server over real TLS, with certificates from certs/.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { loadConfig } from '../../webhook/config.js';
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

  beforeAll(async () => {
    server = new WebhookServer({
      inject,
      tls: certs.tls,
      logger: createLogger('test', 'silent'),
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
