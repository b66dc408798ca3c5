// A real Redis: redis-server started on a random port with its own data folder,
// so a test can kill it and start it again on the same data. Where redis-server
// is missing but Docker is available, a testcontainers Redis.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';

export interface RedisOptions {
  /** Append-only file with fsync always: every acknowledged write survives a kill. */
  aof?: boolean;
  password?: string;
}

export class RedisServer {
  private proc: ManagedProcess | undefined;
  private container: { stop(): Promise<unknown> } | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly options: RedisOptions,
    readonly host = '127.0.0.1',
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'kaos-redis-'));
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    if (hasRedisServer()) {
      const redis = new RedisServer(await freePort(), options);
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
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--daemonize',
      'no',
    ];
    if (this.options.aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (this.options.password) args.push('--requirepass', this.options.password);
    const proc = new ManagedProcess({
      name: `redis-server :${this.port}`,
      command: 'redis-server',
      args,
      logFile: join(this.dir, 'redis.log'),
    });
    this.proc = proc;
    await proc.waitUntil('PING', () => this.answers(), { timeoutMs: 15_000 });
  }

  /** SIGKILL: no shutdown save, exactly what a crash leaves behind. */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  /** SIGSTOP: the socket stays open but nothing answers, like a hung server. */
  pause(): void {
    this.proc?.signal('SIGSTOP');
  }

  resume(): void {
    this.proc?.signal('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    await this.container?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async answers(): Promise<boolean> {
    const probe = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } finally {
      probe.disconnect();
    }
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
