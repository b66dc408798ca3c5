// `kaos-memory webhook` as a real process: bootstrap, readiness, SIGTERM, bad config.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as certs } from '../../certs/main.js';
import { freePort } from '../../harness/ports.js';
import { pollUntil } from '../../harness/poll.js';
import { kaosMemory } from '../../harness/kaos.js';
import { ManagedProcess } from '../../harness/process.js';
import { REPO_ROOT } from '../../harness/root.js';
import { call } from './client.js';

const FIXTURE = await readFile(new URL('fixtures/02-named-pod.json', import.meta.url), 'utf8');

/** `kaos-memory webhook` with this environment (and no other). */
function start(env: Record<string, string>): ManagedProcess {
  const { command, args } = kaosMemory(['webhook']);
  return new ManagedProcess({
    name: 'webhook',
    command,
    args,
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
}

/** Wait for /readyz, then review FIXTURE and decode the JSON patch. */
async function patchOnceReady(port: number, ca: string, timeoutMs: number) {
  await pollUntil(
    'readyz',
    async () => (await call(port, 'GET', '/readyz', { ca })).status === 200,
    { timeoutMs: timeoutMs },
  );
  const reply = await call(port, 'POST', '/mutate', { ca, body: FIXTURE });
  return JSON.parse(Buffer.from(JSON.parse(reply.text).response.patch, 'base64').toString());
}

describe('kaos-memory webhook process', () => {
  let dir: string;
  let ca: string;
  // No API server here: the cluster view is off, except where a test says otherwise.
  const base = {
    INJECT_REDIS_URL: 'redis://r:6379',
    INJECT_SIDECAR_IMAGE: 'kaos-memory:test',
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_CLUSTER_VIEW: 'false',
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaos-webhook-'));
    await certs(['--out', join(dir, 'tls'), '--dns', 'localhost', '--ip', '127.0.0.1']);
    ca = await readFile(join(dir, 'tls', 'ca.crt'), 'utf8');
    // A kubeconfig whose API server refuses connections.
    await writeFile(
      join(dir, 'kubeconfig'),
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves reviews with certificates from WEBHOOK_TLS_DIR, drains on SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const proc = start({
      ...base,
      WEBHOOK_PORT: String(port),
      WEBHOOK_TLS_DIR: join(dir, 'tls'),
      INJECT_NATIVE_SIDECAR: 'true',
      WEBHOOK_DRAIN_SECONDS: '2',
    });
    try {
      const patch = await patchOnceReady(port, ca, 20_000);
      expect(patch.at(-1).path).toBe('/spec/initContainers');
      const agent = new Agent({ keepAlive: true });
      const before = await call(port, 'POST', '/mutate', { ca, body: FIXTURE, agent });
      expect(before.headers.connection).toBe('keep-alive');

      // Stopping: the API server may still send reviews until it learns the endpoint is
      // gone. They are answered, each on a connection closed after it; not ready.
      const began = Date.now();
      proc.signal('SIGTERM');
      await pollUntil('shutting down', async () => proc.output().includes('shutting down'));
      const during = await call(port, 'POST', '/mutate', { ca, body: FIXTURE, agent });
      expect(during.status).toBe(200);
      expect(JSON.parse(during.text).response.allowed).toBe(true);
      expect(during.headers.connection).toBe('close');
      expect((await call(port, 'GET', '/readyz', { ca })).status).toBe(503);
      agent.destroy();

      expect(await proc.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - began).toBeGreaterThanOrEqual(2_000);
      await expect(call(port, 'GET', '/healthz', { ca })).rejects.toThrow(/ECONNREFUSED/);
      const lines = proc
        .output()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.find((l) => l.msg === 'admission reviewed')).toMatchObject({
        uid: JSON.parse(FIXTURE).request.uid,
        namespace: 'agents',
        pod: 'researcher',
        result: 'injected',
      });
      expect(lines.filter((l) => l.msg === 'shutting down')).toEqual([
        expect.objectContaining({ signal: 'SIGTERM' }),
      ]);
    } finally {
      await proc.kill();
    }
  });

  it('exits 0 at once on a SIGTERM that comes while it is still starting', async () => {
    // An API server that accepts connections and never answers: start-up waits on it.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const apiPort = (silent.address() as AddressInfo).port;
    const kubeconfig = join(dir, 'silent.kubeconfig');
    await writeFile(
      kubeconfig,
      (await readFile(join(dir, 'kubeconfig'), 'utf8')).replace(
        '127.0.0.1:9',
        `127.0.0.1:${apiPort}`,
      ),
    );
    const proc = start({
      ...base,
      WEBHOOK_PORT: String(await freePort()),
      WEBHOOK_TLS_DIR: join(dir, 'tls'),
      KUBECONFIG: kubeconfig,
    });
    try {
      await pollUntil(
        'a connection to the API server',
        () =>
          new Promise<boolean>((resolve) =>
            silent.getConnections((_err, count) => resolve(count > 0)),
          ),
        // A process start on a loaded machine; it returns as soon as the connection is there.
        { timeoutMs: 60_000 },
      );
      const began = Date.now();
      proc.signal('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - began).toBeLessThan(3_000);
      expect(proc.output()).toContain('shutting down');
      expect(proc.output()).not.toContain('webhook listening');
    } finally {
      await proc.kill();
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('falls back to an ordinary container when auto cannot reach the API server', async () => {
    const port = await freePort();
    const proc = start({
      ...base,
      WEBHOOK_PORT: String(port),
      WEBHOOK_TLS_DIR: join(dir, 'tls'),
      KUBECONFIG: join(dir, 'kubeconfig'),
    });
    try {
      const patch = await patchOnceReady(port, ca, 30_000);
      expect(patch.at(-1).path).toBe('/spec/containers/-');
      expect(proc.output()).toContain(
        'API server version unknown; injecting the sidecar as an ordinary container',
      );
    } finally {
      await proc.stop();
    }
  });

  it('is live but not ready while it cannot put its own certificate in place', async () => {
    const port = await freePort();
    const proc = start({
      ...base,
      WEBHOOK_PORT: String(port),
      WEBHOOK_CERT_HOSTS: '127.0.0.1',
      INJECT_NATIVE_SIDECAR: 'false',
      KUBECONFIG: join(dir, 'kubeconfig'),
    });
    try {
      // The throwaway certificate's CA exists only in that process: skip verification.
      const get = (path: string) =>
        call(port, 'GET', path, { ca: '', insecure: true }).catch(() => ({ status: 0 }));
      await pollUntil('healthz', async () => (await get('/healthz')).status === 200, {
        timeoutMs: 20_000,
      });
      await pollUntil('a failed attempt', async () =>
        proc.output().includes('could not ensure the webhook certificate'),
      );
      expect((await get('/readyz')).status).toBe(503);
    } finally {
      await proc.stop();
    }
  });

  it('is live but not ready while its cluster view cannot list namespaces', async () => {
    const port = await freePort();
    const proc = start({
      ...base,
      WEBHOOK_CLUSTER_VIEW: 'true',
      WEBHOOK_PORT: String(port),
      WEBHOOK_TLS_DIR: join(dir, 'tls'),
      INJECT_NATIVE_SIDECAR: 'true',
      KUBECONFIG: join(dir, 'kubeconfig'),
    });
    try {
      await pollUntil(
        'healthz',
        async () => (await call(port, 'GET', '/healthz', { ca })).status === 200,
        {
          timeoutMs: 20_000,
        },
      );
      await pollUntil('a failed list', async () =>
        proc.output().includes('cluster view: list or watch failed'),
      );
      expect((await call(port, 'GET', '/readyz', { ca })).status).toBe(503);
    } finally {
      await proc.stop();
    }
  });

  it('stops at start with one line naming a bad variable', async () => {
    const proc = start({ INJECT_SIDECAR_IMAGE: 'kaos-memory:test' });
    expect((await proc.exited).code).toBe(1);
    expect(proc.output()).toBe(
      'kaos-memory: invalid configuration: INJECT_REDIS_URL: is required (redis://, rediss://, redis+sentinel:// or redis+cluster://)\n',
    );
  });
});
