// The sidecar's metrics listener (MEMORY_METRICS_PORT): on every interface, serving
// GET /metrics only, while the memory API stays on loopback and keeps its Host check.
// Not under test/sidecar: those suites reach the API only through harness/http.ts,
// and this listener is not the API.
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { externalAddress, freePort } from '../../harness/ports.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess, startSidecar } from '../../harness/sidecar.js';
import type { Sidecar } from '../../sidecar/server.js';

let redis: RedisServer;
let sidecar: Sidecar;
let url: string;
let metricsPort: number;

beforeAll(async () => {
  redis = await RedisServer.start();
  metricsPort = await freePort();
  const sc = await startSidecar({
    MEMORY_REDIS_URL: redis.url,
    MEMORY_METRICS_PORT: String(metricsPort),
  });
  ({ sidecar, url } = sc);
  await pollUntil('ready', async () => (await fetch(`${url}/readyz`)).ok);
});

afterAll(async () => {
  await sidecar?.close();
  await redis?.stop();
});

describe('the metrics listener (MEMORY_METRICS_PORT)', () => {
  it('serves GET /metrics on every interface, and nothing else', async () => {
    const address = sidecar.metricsAddress();
    expect(address?.port).toBe(metricsPort);
    expect(['::', '0.0.0.0']).toContain(address?.address);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toContain('kaos_memory_sidecar_http_requests_total');
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/sessions'],
      ['POST', '/metrics'],
      ['GET', '/openapi.json'],
    ] as const) {
      expect((await fetch(`http://127.0.0.1:${metricsPort}${path}`, { method })).status).toBe(404);
    }
  });

  it('answers any Host (Prometheus dials the pod IP) while the API keeps refusing them', async () => {
    const external = externalAddress();
    const target = external ?? '127.0.0.1';
    const scrape = await new Promise<number>((resolve, reject) => {
      get(
        { host: target, port: metricsPort, path: '/metrics', headers: { host: '10.0.0.1:9790' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject);
    });
    expect(scrape).toBe(200);
    const api = await send(url, 'GET', '/healthz', undefined, { host: '10.0.0.1:8790' });
    expect(api.status).toBe(403);
    if (external) {
      // The API port is not reachable on the machine's own address at all.
      await expect(fetch(`http://${external}:${new URL(url).port}/healthz`)).rejects.toThrow();
    }
  });

  it('is off with MEMORY_METRICS_PORT=0; a sidecar process serves it when set', async () => {
    const port = await freePort();
    const sp = await SidecarProcess.start({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_METRICS_PORT: String(port),
    });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('kaos_memory_sidecar_redis_up');
    } finally {
      await sp.stop();
    }
    const off = await SidecarProcess.start({ MEMORY_REDIS_URL: redis.url });
    try {
      expect(off.env.MEMORY_METRICS_PORT).toBe('0');
      await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    } finally {
      await off.stop();
    }
  });
});
