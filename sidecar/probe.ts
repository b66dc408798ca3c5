// `kaos-memory sidecar probe [/healthz|/readyz]`: an exec probe for the kubelet,
// whose HTTP probes cannot reach a server bound to the pod's loopback.
import { request } from 'node:http';

export function probe(path: string): Promise<void> {
  const port = Number(process.env.MEMORY_SIDECAR_PORT ?? 8790);
  const host = process.env.MEMORY_SIDECAR_HOST ?? '127.0.0.1';
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 2000 }, (res) => {
      res.resume();
      process.exitCode = res.statusCode === 200 ? 0 : 1;
      resolve();
    });
    const fail = (why: string) => {
      process.stderr.write(`probe ${path}: ${why}\n`);
      process.exitCode = 1;
      resolve();
    };
    req.on('timeout', () => {
      req.destroy();
      fail('timed out');
    });
    req.on('error', (err) => fail(err.message));
    req.end();
  });
}
