// Real distributed Redis for the tests, from the same redis-server binary: a
// Sentinel group (a primary, replicas, sentinels) and a Redis Cluster (masters
// with replicas). Every node runs on a random loopback port with its own folder,
// so a test can SIGKILL any of them and watch the failover.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FaultProxy } from './faultproxy.js';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';
import { baseArgs, RedisNode } from './redis.js';

export { RedisNode };

const run = promisify(execFile);

function authArgs(password: string | undefined): string[] {
  return password ? ['--requirepass', password, '--masterauth', password] : [];
}

export interface SentinelOptions {
  replicas?: number;
  sentinels?: number;
  password?: string;
  /** The name the sentinels monitor. Default kaos. */
  masterName?: string;
  /**
   * The first primary is reached through a FaultProxy (`group.replication`) by
   * everyone: replicas, sentinels and clients. A test can then hold back only the
   * replication stream (`freeze({ replicationOnly: true })`): replicas that lag.
   */
  proxyReplication?: boolean;
}

/** A primary, its replicas and the sentinels that watch them. */
export class SentinelGroup {
  private constructor(
    readonly root: string,
    readonly masterName: string,
    readonly data: RedisNode[],
    readonly sentinels: RedisNode[],
    readonly password: string | undefined,
  ) {}

  /** The proxy in front of the first primary, with `proxyReplication`. */
  replication: FaultProxy | undefined;

  static async start(options: SentinelOptions = {}): Promise<SentinelGroup> {
    const root = mkdtempSync(join(tmpdir(), 'kaos-sentinel-'));
    const name = options.masterName ?? 'kaos';
    const password = options.password;
    const group = new SentinelGroup(root, name, [], [], password);
    try {
      const primary = await RedisNode.create(
        root,
        'data-0',
        (p, d) => baseArgs(p, d, authArgs(password)),
        password,
      );
      group.data.push(primary);
      await primary.start();
      let upstream = primary.port;
      if (options.proxyReplication) {
        group.replication = await FaultProxy.start({ port: primary.port });
        upstream = group.replication.port;
      }
      for (let i = 1; i <= (options.replicas ?? 2); i++) {
        const replica = await RedisNode.create(
          root,
          `data-${i}`,
          (p, d) =>
            baseArgs(p, d, [...authArgs(password), '--replicaof', '127.0.0.1', String(upstream)]),
          password,
        );
        group.data.push(replica);
        await replica.start();
      }
      for (let i = 0; i < (options.sentinels ?? 3); i++) {
        const sentinel = await RedisNode.create(root, `sentinel-${i}`, (p, d) => {
          const conf = join(d, 'sentinel.conf');
          writeFileSync(
            conf,
            [
              `port ${p}`,
              'bind 127.0.0.1',
              `dir ${d}`,
              `sentinel monitor ${name} 127.0.0.1 ${upstream} 2`,
              `sentinel down-after-milliseconds ${name} 1000`,
              `sentinel failover-timeout ${name} 4000`,
              `sentinel parallel-syncs ${name} 2`,
              ...(password ? [`sentinel auth-pass ${name} ${password}`] : []),
              '',
            ].join('\n'),
          );
          return [conf, '--sentinel'];
        });
        group.sentinels.push(sentinel);
        await sentinel.start();
      }
      await group.waitSettled();
    } catch (err) {
      await group.stop();
      throw err;
    }
    return group;
  }

  /** `redis+sentinel://[:pass@]h1:p1,h2:p2/NAME`, the sidecar's form. */
  url(options: { password?: boolean } = {}): string {
    const auth = options.password !== false && this.password ? `:${this.password}@` : '';
    const hosts = this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
    return `redis+sentinel://${auth}${hosts}/${this.masterName}`;
  }

  /** The data node the sentinels name as primary now. */
  async primary(): Promise<RedisNode> {
    for (const sentinel of this.sentinels) {
      if (!sentinel.running || sentinel.paused) continue;
      try {
        const reply = (await sentinel.command(
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          this.masterName,
        )) as [string, string] | null;
        const port = Number(reply?.[1]);
        const behindProxy = port === this.replication?.port ? this.data[0] : undefined;
        const node = this.data.find((n) => n.port === port) ?? behindProxy;
        if (node) return node;
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel names a primary');
  }

  /**
   * Waits until every live replica holds the primary's data (its first sync done, not
   * merely connected) and the sentinels see them all.
   */
  async waitSettled(timeoutMs = 30_000): Promise<void> {
    await pollUntil(
      'sentinel group settled',
      async () => {
        const primary = await this.primary();
        if (!primary.running) return false;
        const info = await primary.info('replication');
        const replicas = this.data.filter((n) => n.running && n !== primary);
        if (info.role !== 'master' || Number(info.connected_slaves) < replicas.length) return false;
        for (const replica of replicas) if (!(await replica.syncedReplica())) return false;
        for (const sentinel of this.sentinels.filter((s) => s.running)) {
          const replicas = (await sentinel.command(
            'SENTINEL',
            'REPLICAS',
            this.masterName,
          )) as unknown[];
          if (replicas.length < this.data.length - 1) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Waits until the sentinels name a primary other than `old` and it accepts writes. */
  async waitFailover(old: RedisNode, timeoutMs = 30_000): Promise<RedisNode> {
    let next: RedisNode | undefined;
    await pollUntil(
      'sentinel failover',
      async () => {
        const candidate = await this.primary();
        if (candidate === old) return false;
        const info = await candidate.info('replication');
        next = candidate;
        return info.role === 'master';
      },
      { timeoutMs, intervalMs: 200 },
    );
    return next as RedisNode;
  }

  async stop(): Promise<void> {
    await this.replication?.stop();
    for (const node of [...this.sentinels, ...this.data]) {
      node.resume();
      await node.kill();
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  password?: string;
}

/** A Redis Cluster made with `redis-cli --cluster create`. */
export class RedisCluster {
  private constructor(
    readonly root: string,
    readonly nodes: RedisNode[],
    readonly password: string | undefined,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<RedisCluster> {
    const root = mkdtempSync(join(tmpdir(), 'kaos-cluster-'));
    const password = options.password;
    const cluster = new RedisCluster(root, [], password);
    const count = (options.masters ?? 3) * (1 + (options.replicasPerMaster ?? 0));
    try {
      for (let i = 0; i < count; i++) {
        // A bus port of its own: Redis's default, the port plus 10,000, may be taken (or past 65535).
        const busPort = await freePort();
        const node = await RedisNode.create(
          root,
          `node-${i}`,
          (p, d) =>
            baseArgs(p, d, [
              ...authArgs(password),
              '--cluster-enabled',
              'yes',
              '--cluster-port',
              String(busPort),
              '--cluster-config-file',
              join(d, 'nodes.conf'),
              '--cluster-node-timeout',
              '1000',
              // A replica of a lost master takes over even when it was briefly behind.
              '--cluster-replica-validity-factor',
              '0',
            ]),
          password,
        );
        cluster.nodes.push(node);
        await node.start();
      }
      await cluster.cli([
        '--cluster',
        'create',
        ...cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(options.replicasPerMaster ?? 0),
        '--cluster-yes',
      ]);
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `redis+cluster://[:pass@]h1:p1,h2:p2,…`, the sidecar's form. */
  url(): string {
    const auth = this.password ? `:${this.password}@` : '';
    const hosts = this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
    return `redis+cluster://${auth}${hosts}`;
  }

  /** redis-cli with the cluster's password; resolves with its output. */
  async cli(args: string[]): Promise<string> {
    const auth = this.password ? ['-a', this.password, '--no-auth-warning'] : [];
    const { stdout } = await run('redis-cli', [...auth, ...args], { timeout: 120_000 });
    return stdout;
  }

  /** The live masters and the slots each serves, from CLUSTER SHARDS of a live node. */
  async masters(): Promise<{ node: RedisNode; id: string; slots: number }[]> {
    const live = this.nodes.find((n) => n.running);
    if (!live) throw new Error('no live cluster node');
    const text = String(await live.command('CLUSTER', 'NODES'));
    const out: { node: RedisNode; id: string; slots: number }[] = [];
    for (const line of text.trim().split('\n')) {
      const [id = '', address = '', flags = '', , , , , , ...ranges] = line.split(' ');
      if (!flags.split(',').includes('master') || flags.includes('fail')) continue;
      const port = Number(address.split('@')[0]?.split(':')[1]);
      const node = this.nodes.find((n) => n.port === port);
      if (!node) continue;
      let slots = 0;
      for (const range of ranges) {
        if (range.startsWith('[')) continue;
        const [from = '0', to = from] = range.split('-');
        slots += Number(to) - Number(from) + 1;
      }
      out.push({ node, id, slots });
    }
    return out;
  }

  /**
   * Waits until every live node reports cluster_state:ok, all 16384 slots are served,
   * and every live replica holds its master's data (its first sync done).
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await pollUntil(
      'cluster healthy',
      async () => {
        for (const node of this.nodes.filter((n) => n.running)) {
          const info = String(await node.command('CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok')) return false;
          if (!info.includes('cluster_slots_ok:16384')) return false;
          const role = (await node.info('replication')).role;
          if (role === 'slave' && !(await node.syncedReplica())) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Waits until a replica has taken over the slots of `lost` (a killed master). */
  async waitFailover(lost: RedisNode, timeoutMs = 30_000): Promise<void> {
    await pollUntil(
      'cluster failover',
      async () => {
        const masters = await this.masters();
        if (masters.some((m) => m.node === lost)) return false;
        return masters.reduce((sum, m) => sum + m.slots, 0) === 16384;
      },
      { timeoutMs, intervalMs: 200 },
    );
    await this.waitHealthy(timeoutMs);
  }

  /** Moves `slots` slots from one master to another while the cluster serves. */
  async reshard(fromId: string, toId: string, slots: number): Promise<void> {
    const live = this.nodes.find((n) => n.running);
    await this.cli([
      '--cluster',
      'reshard',
      `127.0.0.1:${live?.port ?? 0}`,
      '--cluster-from',
      fromId,
      '--cluster-to',
      toId,
      '--cluster-slots',
      String(slots),
      '--cluster-yes',
      '--cluster-pipeline',
      '100',
    ]);
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.resume();
      await node.kill();
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
