import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeCommand } from './container.js';

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
