// A running sidecar follows MEMORY_REDIS_PASSWORD_FILE on every topology, against real
// redis-server processes: the file is swapped the way the kubelet swaps a Secret volume
// while a writer keeps writing; Redis accepts old and new during the change, then only
// the new one; the sidecar's connections, cut afterwards, come back with the new one
// (a Cluster's node connections included). No write fails, none is stored twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { randomPrefix } from '../../harness/sidecar.js';
import { freePort } from '../../harness/ports.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { Sidecar } from '../../sidecar/server.js';

const OLD = 'old-' + 'o'.repeat(28);
const NEW = 'new-' + 'n'.repeat(28);

interface Topology {
  /** MEMORY_REDIS_URL without a password. */
  url: string;
  /** Every data node's port: each must accept the passwords. */
  ports: number[];
  stop(): Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  single: async () => {
    const redis = await RedisServer.start({ password: OLD });
    return {
      url: `redis://127.0.0.1:${redis.port}`,
      ports: [redis.port],
      stop: () => redis.stop(),
    };
  },
  sentinel: async () => {
    const group = await SentinelGroup.start({ password: OLD, replicas: 1, sentinels: 1 });
    return {
      url: group.url({ password: false }),
      ports: group.data.map((n) => n.port),
      stop: () => group.stop(),
    };
  },
  cluster: async () => {
    const cluster = await RedisCluster.start({ password: OLD });
    return {
      url: `redis+cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
      ports: cluster.nodes.map((n) => n.port),
      stop: () => cluster.stop(),
    };
  },
};

/** One command on one node with one password. */
async function onNode(port: number, password: string, ...args: string[]): Promise<unknown> {
  const client = new Redis({ port, password, lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [name = '', ...rest] = args;
    return await client.call(name, ...rest);
  } finally {
    client.disconnect();
  }
}

async function accepts(port: number, password: string): Promise<boolean> {
  return (await onNode(port, password, 'PING').catch(() => 'refused')) === 'PONG';
}

/** An in-process sidecar following a password file, as a pod with a mounted Secret runs it. */
interface FollowingSidecar {
  url: string;
  /** Its log lines. */
  logs: string[];
  /** Swaps the file's password, as the kubelet swaps the volume. */
  mount(password: string): void;
  /** Closes the sidecar and removes the file's folder. */
  close(): Promise<void>;
}

/** A sidecar on `redisUrl` whose password file holds OLD; resolves once it is ready. */
async function followingSidecar(redisUrl: string): Promise<FollowingSidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'kaos-password-'));
  const mount = (password: string) => writeSecretVolume(dir, { password });
  mount(OLD);
  const port = await freePort();
  const config = loadSidecarConfig({
    MEMORY_REDIS_URL: redisUrl,
    MEMORY_REDIS_PASSWORD_FILE: join(dir, 'password'),
    MEMORY_KEY_PREFIX: randomPrefix(),
    MEMORY_SIDECAR_PORT: String(port),
    AGENT_NAME: 'rotation',
    // Not the default 9790: other files' sidecars run beside this one.
    MEMORY_METRICS_PORT: '0',
  });
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const sidecar = new Sidecar(config, log);
  await sidecar.start();
  const url = `http://127.0.0.1:${port}`;
  await pollUntil('sidecar ready', async () => (await call(url, 'GET', '/readyz')).status === 200, {
    timeoutMs: 30_000,
  });
  const close = async () => {
    await sidecar.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, logs, mount, close };
}

describe.each(Object.keys(TOPOLOGIES))(
  '%s: a running sidecar follows its password file',
  (kind) => {
    let topology: Topology;
    let sidecar: FollowingSidecar;

    beforeAll(async () => {
      topology = await TOPOLOGIES[kind]!();
      sidecar = await followingSidecar(topology.url);
    });

    afterAll(async () => {
      await sidecar?.close();
      await topology?.stop();
    });

    it('keeps writing through the change and reconnects with the new password', async () => {
      let running = true;
      let acked = 0;
      const failures: string[] = [];
      const write = async (i: number, tag: string) => {
        const res = await call(sidecar.url, 'POST', `/v1/sessions/s-${i % 8}/events`, {
          event_type: 'user_message',
          content: i,
          event_id: `${tag}-${i}`,
        });
        if (res.status === 201) acked++;
        else failures.push(`${res.status} ${res.text}`);
      };
      const writer = (async () => {
        for (let i = 0; running; i++) await write(i, 'during');
      })();

      // Redis accepts both; the file changes as the kubelet changes it; Redis drops the old.
      for (const port of topology.ports)
        await onNode(port, OLD, 'ACL', 'SETUSER', 'default', `>${NEW}`);
      sidecar.mount(NEW);
      await pollUntil('the sidecar to take the new password', () =>
        sidecar.logs.some((l) => l.includes('redis password changed') && l.includes('"accepted"')),
      );
      for (const port of topology.ports)
        await onNode(port, NEW, 'ACL', 'SETUSER', 'default', `<${OLD}`);
      for (const port of topology.ports) expect(await accepts(port, OLD)).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      running = false;
      await writer;
      expect(failures).toEqual([]);
      expect(acked).toBeGreaterThan(10);

      // The sidecar's own connections cut (nothing else's: replication and sentinels keep
      // theirs), with no write in flight: they come back with the new password.
      for (const port of topology.ports) {
        const clients = String(await onNode(port, NEW, 'CLIENT', 'LIST')).split('\n');
        for (const line of clients.filter((l) => l.includes('name=kaos-memory-sidecar'))) {
          const id = /\bid=(\d+)/.exec(line)?.[1];
          if (id) await onNode(port, NEW, 'CLIENT', 'KILL', 'ID', id).catch(() => undefined);
        }
      }
      let after = 0;
      await pollUntil(
        'a write after the reconnect',
        async () => {
          const res = await call(sidecar.url, 'POST', '/v1/sessions/s-0/events', {
            event_type: 'user_message',
            content: 'after',
            event_id: 'after',
          });
          if (res.status === 201 || res.status === 200) after++;
          return res.status === 201 || res.status === 200;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(after).toBe(1);
      // Every session read back: each acknowledged event once.
      let stored = 0;
      for (let s = 0; s < 8; s++) {
        const res = await call(sidecar.url, 'GET', `/v1/sessions/s-${s}/events?limit=100000`);
        const body = res.body as { events: { event_id: string }[] };
        stored += body.events.length;
        expect(new Set(body.events.map((e) => e.event_id)).size).toBe(body.events.length);
      }
      expect(stored).toBe(acked + 1);
      expect(sidecar.logs.join('\n')).not.toContain(OLD);
      expect(sidecar.logs.join('\n')).not.toContain(NEW);
    });
  },
);

describe('a new password Redis does not accept yet', () => {
  let redis: RedisServer;
  let sidecar: FollowingSidecar;

  beforeAll(async () => {
    redis = await RedisServer.start({ password: OLD });
    sidecar = await followingSidecar(`redis://127.0.0.1:${redis.port}`);
  });

  afterAll(async () => {
    await sidecar?.close();
    await redis?.stop();
  });

  it('is tried again until Redis accepts it, with one warning, and writes go on meanwhile', async () => {
    const refusals = () => sidecar.logs.filter((l) => l.includes('"reauthentication":"refused"'));
    sidecar.mount(NEW);
    await pollUntil('the refusal', () => refusals().length > 0);
    // Past one retry: still refused, still one warning.
    await new Promise((r) => setTimeout(r, 5_500));
    expect(refusals()).toHaveLength(1);
    const during = await call(sidecar.url, 'POST', '/v1/sessions/s/events', {
      event_type: 'user_message',
      content: 'during',
    });
    expect(during.status).toBe(201);

    // Redis's own copy of the Secret catches up.
    await onNode(redis.port, OLD, 'ACL', 'SETUSER', 'default', `>${NEW}`);
    await pollUntil(
      'the sidecar to take the new password',
      () =>
        sidecar.logs.some((l) => l.includes('redis password changed') && l.includes('"accepted"')),
      { timeoutMs: 15_000 },
    );
    expect(refusals()).toHaveLength(1);
    expect(sidecar.logs.join('\n')).not.toContain(OLD);
    expect(sidecar.logs.join('\n')).not.toContain(NEW);
  });
});
