// WEBHOOK_TLS_DIR the way Kubernetes mounts a Secret: files are symlinks through `..data`,
// which is swapped atomically to a new timestamped folder when the Secret changes.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { loadConfig } from '../../webhook/config.js';
import { WebhookServer, type TlsMaterial } from '../../webhook/server.js';
import { FileCertificateSource } from '../../webhook/tls.js';
import { pollUntil } from '../../harness/poll.js';
import { call, loopbackCerts } from './client.js';

async function writeVersion(dir: string, version: string, tls: TlsMaterial): Promise<void> {
  const folder = join(dir, `..${version}`);
  await mkdir(folder);
  await writeFile(join(folder, 'tls.crt'), tls.cert);
  await writeFile(join(folder, 'tls.key'), tls.key);
  // Atomic swap: a new symlink renamed over `..data`, as the kubelet does.
  await symlink(`..${version}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

describe('TLS folder reload', () => {
  const first = loopbackCerts();
  let dir: string;
  let server: WebhookServer;
  let watcher: FileCertificateSource;
  let port: number;
  const swaps: string[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaos-tls-'));
    await writeVersion(dir, '2026_03_01_00_00_00.1', first.tls);
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    const logger = createLogger('tlsdir', 'silent');
    // The watcher's own warnings, to know when it has acted on a swap.
    const watcherLog = pino(
      { level: 'warn' },
      {
        write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg),
      },
    );
    // Polling effectively off: the watcher alone must notice the swap.
    watcher = new FileCertificateSource(dir, watcherLog, { rereadMs: 3_600_000 });
    const tls = await watcher.load();
    const env = { INJECT_REDIS_URL: 'redis://r', INJECT_SIDECAR_IMAGE: 'kaos-memory:test' };
    server = new WebhookServer({
      inject: { ...loadConfig(env).inject, nativeSidecar: true },
      tls,
      logger,
      defaultMetrics: false,
    });
    port = await server.listen(0, '127.0.0.1');
    watcher.start((tls) => {
      swaps.push(tls.cert);
      server.setCertificate(tls);
    });
  });
  afterAll(async () => {
    watcher.stop();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the new certificate after the Secret volume swaps, without a restart', async () => {
    const before = await call(port, 'GET', '/healthz', first);
    expect(before.status).toBe(200);
    const second = loopbackCerts();
    await writeVersion(dir, '2026_03_02_00_00_00.2', second.tls);
    await pollUntil(
      'the renewed certificate',
      async () => {
        const reply = await call(port, 'GET', '/healthz', second);
        return reply.status === 200 && reply.serial !== before.serial;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(swaps).toHaveLength(1);
  });

  it('keeps the current certificate when the new files do not match', async () => {
    const current = swaps.at(-1)!;
    const a = loopbackCerts();
    const b = loopbackCerts();
    warnings.length = 0;
    await writeVersion(dir, '2026_03_03_00_00_00.3', { cert: a.tls.cert, key: b.tls.key });
    // The watcher says when it has looked at the new files and turned them down.
    await pollUntil('the mismatched pair to be turned down', async () => warnings.length > 0, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(warnings).toEqual([
      'TLS files unreadable or mismatched; keeping the current certificate',
    ]);
    expect(swaps.at(-1)).toBe(current);
    await expect(watcher.load()).rejects.toThrow();
  });
});
