import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES, type InjectConfig } from './config.js';
import { probeCommand, sidecarContainer } from './container.js';
import type { SidecarSettings } from './overrides.js';

// Run the exact exec probe the kubelet would, against a real loopback server.
function runProbe(port: number, path: '/healthz' | '/readyz'): Promise<number> {
  const [cmd = '', ...args] = probeCommand(port, path);
  return new Promise((resolve) => {
    execFile(cmd === 'node' ? process.execPath : cmd, args, (err) => {
      resolve(err ? ((err as { code?: number }).code ?? -1) : 0);
    });
  });
}

describe('exec probes', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('passes on 200, fails on 503 and on a closed port', async () => {
    expect(await runProbe(port, '/healthz')).toBe(0);
    expect(await runProbe(port, '/readyz')).toBe(1);
    const closed = port === 65535 ? 1 : port + 1;
    expect(await runProbe(closed, '/healthz')).toBe(1);
  });
});

describe('probe timing', () => {
  const config: InjectConfig = {
    memoryType: 'redis',
    redisUrl: 'redis://redis.kaos:6379/0',
    sidecarImage: 'kaos-memory:test',
    sidecarPort: 8790,
    sidecarMetricsPort: 9790,
    imagePullPolicy: 'IfNotPresent',
    resources: DEFAULT_RESOURCES,
    nodeOptions: '--max-semi-space-size=2',
    nativeSidecar: true,
    sidecarEnv: {},
    version: '0.0.0-test',
  };
  const settings: SidecarSettings = {
    image: 'kaos-memory:test',
    port: 8790,
    portFromAnnotation: false,
    resources: DEFAULT_RESOURCES,
  };

  it('probes readiness every 10 s with 3 failures by default', () => {
    const { readinessProbe, livenessProbe } = sidecarContainer(config, settings);
    expect(readinessProbe).toEqual({
      exec: { command: probeCommand(8790, '/readyz') },
      timeoutSeconds: 3,
      periodSeconds: 10,
      failureThreshold: 3,
    });
    expect(livenessProbe).toMatchObject({ periodSeconds: 20, failureThreshold: 3 });
  });

  it('takes the readiness timing the settings carry, each field on its own', () => {
    const both = sidecarContainer(config, {
      ...settings,
      readiness: { periodSeconds: 2, failureThreshold: 2 },
    });
    expect(both.readinessProbe).toMatchObject({
      periodSeconds: 2,
      failureThreshold: 2,
      timeoutSeconds: 3,
    });
    expect(both.livenessProbe).toMatchObject({ periodSeconds: 20, failureThreshold: 3 });
    expect(both.startupProbe).toMatchObject({ periodSeconds: 1, failureThreshold: 60 });
    const period = sidecarContainer(config, { ...settings, readiness: { periodSeconds: 5 } });
    expect(period.readinessProbe).toMatchObject({ periodSeconds: 5, failureThreshold: 3 });
    const threshold = sidecarContainer(config, { ...settings, readiness: { failureThreshold: 7 } });
    expect(threshold.readinessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 7 });
  });
});
