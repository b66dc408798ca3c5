// A real Redis for each suite: redis-server started on a random port with its
// own data folder, so a test can kill it and start it again on the same data.
// Where redis-server is missing but Docker is available, a testcontainers Redis.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';
import { exitReason, killChild } from './process.js';

export interface RedisOptions {
  /** Append-only file with fsync always: every acknowledged write survives a kill. */
  aof?: boolean;
  password?: string;
}

export class TestRedis {
  private proc: ChildProcess | undefined;
  private container: { stop(): Promise<unknown> } | undefined;
  readonly dir: string;

  private constructor(
    public readonly port: number,
    private readonly options: RedisOptions,
    public host = '127.0.0.1',
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'kaos-redis-'));
  }

  static async start(options: RedisOptions = {}): Promise<TestRedis> {
    if (hasRedisServer()) {
      const redis = new TestRedis(await freePort(), options);
      await redis.startProcess();
      return redis;
    }
    return TestRedis.startContainer(options);
  }

  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `redis://${auth}${this.host}:${this.port}`;
  }

  /** A fresh client; the caller quits it. */
  client(): Redis {
    return new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

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
      '--logfile',
      join(this.dir, 'redis.log'),
    ];
    if (this.options.aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (this.options.password) args.push('--requirepass', this.options.password);
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    const ready = async () => {
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
    };
    await pollUntil(`redis-server on ${this.port}`, ready, {
      timeoutMs: 15_000,
      intervalMs: 50,
      dead: () => exitReason(proc),
    });
  }

  /** SIGKILL: no shutdown save, exactly what a crash leaves behind. */
  async kill(): Promise<void> {
    if (this.proc) await killChild(this.proc);
  }

  /** SIGSTOP: the socket stays open but nothing answers, like a hung server. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    await this.kill();
    await this.container?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private static async startContainer(options: RedisOptions): Promise<TestRedis> {
    const { GenericContainer } = await import('testcontainers');
    const cmd = ['redis-server', '--save', ''];
    if (options.aof) cmd.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (options.password) cmd.push('--requirepass', options.password);
    const started = await new GenericContainer('redis:7-alpine')
      .withCommand(cmd)
      .withExposedPorts(6379)
      .start();
    const redis = new TestRedis(started.getMappedPort(6379), options, started.getHost());
    redis.container = started;
    return redis;
  }
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}
