// The sidecar's health listener (MEMORY_HEALTH_PORT), as the image runs it: on every
// interface, answering kubelet's httpGet probes (GET /healthz and /readyz) and nothing
// else, never logging what it is asked, while the memory API stays on loopback.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../harness/poll.js';
import { externalAddress, freePort } from '../../harness/ports.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess } from '../../harness/sidecar.js';

let redis: RedisServer;
let sidecar: SidecarProcess;
let healthPort: number;

beforeAll(async () => {
  redis = await RedisServer.start();
  healthPort = await freePort();
  // Ready, not just up: the first test expects /readyz's 200, and on a busy machine Redis
  // can still be connecting when /healthz first answers.
  sidecar = await SidecarProcess.start(
    {
      MEMORY_REDIS_URL: redis.url,
      MEMORY_HEALTH_PORT: String(healthPort),
      LOG_LEVEL: 'debug',
    },
    { ready: '/readyz' },
  );
});

afterAll(async () => {
  await sidecar?.stop();
  await redis?.stop();
});

/** Where kubelet would dial: an address of this machine other than loopback, else loopback. */
function podAddress(): string {
  return externalAddress() ?? '127.0.0.1';
}

/** GET `path` as kubelet sends it: to the pod IP, which it names in Host. */
function probe(path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const host = podAddress();
  return new Promise((resolve, reject) => {
    get(
      { host, port: healthPort, path, method, headers: { host: `${host}:${healthPort}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    ).on('error', reject);
  });
}

describe('the health listener (MEMORY_HEALTH_PORT)', () => {
  it("answers kubelet's probes on the pod IP, and nothing else", async () => {
    expect(await probe('/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
    expect(await probe('/readyz')).toEqual({ status: 200, body: '{"status":"ready"}' });
    for (const path of ['/metrics', '/openapi.json', '/v1/sessions', '/memory/sessions']) {
      expect((await probe(path)).status, path).toBe(404);
    }
    expect((await probe('/readyz', 'DELETE')).status).toBe(405);
    // The API itself is still on loopback only, and refuses a pod IP's Host.
    const api = new URL(sidecar.url);
    if (podAddress() !== '127.0.0.1') {
      await expect(fetch(`http://${podAddress()}:${api.port}/healthz`)).rejects.toThrow();
    }
  });

  it('follows Redis: 503 while it does not answer, 200 once it does again', async () => {
    redis.pause();
    try {
      await pollUntil('not ready', async () => (await probe('/readyz')).status === 503, {
        timeoutMs: 15_000,
      });
      // Up is up: liveness does not depend on Redis.
      expect((await probe('/healthz')).status).toBe(200);
    } finally {
      redis.resume();
    }
    await pollUntil('ready again', async () => (await probe('/readyz')).status === 200, {
      timeoutMs: 15_000,
    });
  });

  it('logs nothing it is asked, at any level, where the API logs its failures', async () => {
    const before = sidecar.proc.output().length;
    await probe('/no-such-route');
    await probe('/readyz', 'POST');
    await probe('/healthz');
    // A failed request on the API is logged, after the others: once its line is out, theirs
    // would be too.
    await fetch(`${sidecar.url}/v1/sessions/none`);
    await pollUntil('the API line', async () =>
      sidecar.proc.output().slice(before).includes('"route":"/v1/sessions/{id}"'),
    );
    const lines = sidecar.proc
      .output()
      .slice(before)
      .split('\n')
      .filter((line) => line.includes('"route"'));
    expect(lines).toHaveLength(1);
  });

  it('is off unless MEMORY_HEALTH_PORT names a port: the API is then all that listens', async () => {
    const api = Number(new URL(sidecar.url).port);
    expect(listeningPorts(sidecar.proc.pid)).toEqual([api, healthPort].sort((a, b) => a - b));
    const plain = await SidecarProcess.start({ MEMORY_REDIS_URL: redis.url });
    try {
      expect(listeningPorts(plain.proc.pid)).toEqual([Number(new URL(plain.url).port)]);
    } finally {
      await plain.stop();
    }
  });
});

/** The TCP ports process `pid` listens on (its sockets in state LISTEN), ascending. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // Closed since the listing.
    }
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; the inode is the tenth field.
      if (f[3] === '0A' && inodes.has(f[9] ?? ''))
        ports.add(parseInt(f[1]?.split(':')[1] ?? '', 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
