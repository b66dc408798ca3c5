// A real Redis: redis-server started on a random port with its own data folder,
// so a test can kill it and start it again on the same data. Where redis-server
// is missing but Docker is available, a testcontainers Redis.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';

export interface RedisOptions {
  /** Append-only file with fsync always: every acknowledged write survives a kill. */
  aof?: boolean;
  password?: string;
}

/** One redis-server (data node, sentinel or cluster node) in its own folder. */
export class RedisNode {
  proc: ManagedProcess | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly password: string | undefined,
  ) {}

  /** A node in `root/name`; `args` gets its port and folder (which exists by then). */
  static async create(
    root: string,
    name: string,
    args: (port: number, dir: string) => string[],
    password?: string,
  ): Promise<RedisNode> {
    const port = await freePort();
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    return new RedisNode(port, dir, args(port, dir), password);
  }

  /** Starts (again, on the same port and data) and waits until it answers PING. */
  async start(): Promise<void> {
    this.proc = new ManagedProcess({
      name: `redis :${this.port}`,
      command: 'redis-server',
      args: this.args,
      logFile: join(this.dir, 'redis.log'),
    });
    await this.proc.waitUntil('PING', () => this.ping(), { timeoutMs: 15_000 });
  }

  /** A client of this node alone; its errors surface as rejected commands, not events. */
  client(): Redis {
    const client = new Redis({
      port: this.port,
      host: '127.0.0.1',
      password: this.password,
      lazyConnect: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    return client;
  }

  /** One command on a fresh connection; the connection is closed after. */
  async command(...args: (string | number)[]): Promise<unknown> {
    const client = this.client();
    try {
      const [name = '', ...rest] = args;
      return await client.call(String(name), ...rest);
    } finally {
      client.disconnect();
    }
  }

  /** Whether this node is a replica whose data is in sync with its primary (false for a primary). */
  async syncedReplica(): Promise<boolean> {
    const info = await this.info('replication');
    return (
      info.role === 'slave' &&
      info.master_link_status === 'up' &&
      info.master_sync_in_progress === '0'
    );
  }

  async info(section: string): Promise<Record<string, string>> {
    const text = String(await this.command('INFO', section));
    return Object.fromEntries(
      text
        .split('\r\n')
        .filter((l) => l.includes(':') && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
    );
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** SIGKILL: a crash, no shutdown save. */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  /** Stopped by SIGSTOP: it accepts connections and answers nothing. */
  paused = false;

  pause(): void {
    this.proc?.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.proc?.signal('SIGCONT');
    this.paused = false;
  }

  private async ping(): Promise<boolean> {
    return (await this.command('PING')) === 'PONG';
  }
}

export function baseArgs(port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    // A replica's first sync starts at once, not after Redis's default 5 s wait for others.
    '--repl-diskless-sync-delay',
    '0',
    ...extra,
  ];
}

export class RedisServer {
  private node: RedisNode | undefined;
  private container: { stop(): Promise<unknown> } | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly options: RedisOptions,
    readonly host = '127.0.0.1',
    node?: RedisNode,
  ) {
    this.node = node;
    this.dir = node?.dir ?? mkdtempSync(join(tmpdir(), 'kaos-redis-'));
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    if (hasRedisServer()) {
      const root = mkdtempSync(join(tmpdir(), 'kaos-redis-'));
      const extra = options.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
      if (options.password) extra.push('--requirepass', options.password);
      const node = await RedisNode.create(
        root,
        'data',
        (port, dir) => baseArgs(port, dir, extra),
        options.password,
      );
      const redis = new RedisServer(node.port, options, '127.0.0.1', node);
      await redis.startProcess();
      return redis;
    }
    return RedisServer.startContainer(options);
  }

  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `redis://${auth}${this.host}:${this.port}`;
  }

  /** A fresh client; the caller quits it. */
  client(): Redis {
    return new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  /** Starts redis-server (again, on the same port and data) and waits until it answers PING. */
  async startProcess(): Promise<void> {
    await this.node?.start();
  }

  /** SIGKILL: no shutdown save, exactly what a crash leaves behind. */
  async kill(): Promise<void> {
    await this.node?.kill();
  }

  /** SIGSTOP: the socket stays open but nothing answers, like a hung server. */
  pause(): void {
    this.node?.pause();
  }

  resume(): void {
    this.node?.resume();
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    await this.container?.stop();
    rmSync(this.node ? dirname(this.dir) : this.dir, { recursive: true, force: true });
  }

  private static async startContainer(options: RedisOptions): Promise<RedisServer> {
    const { GenericContainer } = await import('testcontainers');
    const cmd = ['redis-server', '--save', ''];
    if (options.aof) cmd.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (options.password) cmd.push('--requirepass', options.password);
    const started = await new GenericContainer('redis:7-alpine')
      .withCommand(cmd)
      .withExposedPorts(6379)
      .start();
    const redis = new RedisServer(started.getMappedPort(6379), options, started.getHost());
    redis.container = started;
    return redis;
  }
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Whether the Redis on `port` takes `password` on a new connection. */
export function acceptsPassword(port: number, password: string): Promise<boolean> {
  return answersPing(port, { password }, { readyCheck: true });
}

/**
 * Whether the Redis on `port` answers PING to a new connection made with `auth`, never
 * retried. `readyCheck` waits for a loading Redis to finish first; without it a loading
 * Redis does not answer (LOADING).
 */
export async function answersPing(
  port: number,
  auth: { password?: string; username?: string },
  { readyCheck = false }: { readyCheck?: boolean } = {},
): Promise<boolean> {
  const client = new Redis({
    port,
    ...auth,
    lazyConnect: true,
    retryStrategy: () => null,
    enableReadyCheck: readyCheck,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
