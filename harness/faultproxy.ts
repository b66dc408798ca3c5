// A TCP proxy between a client and a real server (Redis) that misbehaves on
// demand, as networks do: it drops a reply and resets the connection after the
// server has acted, resets every connection, freezes (a black hole: sockets stay
// open, nothing moves), or slows every chunk down.
import { createServer, Socket, type Server } from 'node:net';

const REPLICATION_COMMAND = /(^|\n)\*\d+\r\n\$(5\r\nPSYNC|4\r\nSYNC)\r\n/i;

type Mode =
  | { kind: 'pass' }
  | { kind: 'freeze'; replicationOnly: boolean; only?: ReadonlySet<Pair> }
  | { kind: 'slow'; delayMs: number };

interface Pair {
  client: Socket;
  server: Socket;
  /** A Redis replica's link (it sent PSYNC or SYNC), as opposed to a client's. */
  replication: boolean;
  /** Chunks held while frozen, per direction, in order. */
  held: { toServer: Buffer[]; toClient: Buffer[] };
  /** Delivery of delayed chunks, per direction: a stream is never reordered. */
  queue: { toServer: Delivery; toClient: Delivery };
}

interface Delivery {
  tail: Promise<void>;
  pending: number;
}

export class FaultProxy {
  private mode: Mode = { kind: 'pass' };
  private readonly pairs = new Set<Pair>();
  /** Replies to swallow (each followed by a reset of its connection). */
  private replyDrops = 0;
  /** Counts of what the proxy did, for assertions that a fault really happened. */
  readonly injected = { droppedReplies: 0, resets: 0, connections: 0 };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** Listens on a random loopback port and forwards to `target`. */
  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const to = { host: target.host ?? '127.0.0.1', port: target.port };
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('proxy: no address');
    const proxy = new FaultProxy(server, address.port, to);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The next `n` server replies are swallowed, and each one's connection reset. */
  dropReplies(n = 1): void {
    this.replyDrops += n;
  }

  /**
   * A black hole: connections stay open and accept writes; nothing is delivered
   * either way. `replicationOnly`: only replicas' links (lagging replicas).
   * `existingOnly`: only the connections open now, while new ones work (a lost
   * node whose address now answers again: only a new connection gets through).
   */
  freeze(options: { replicationOnly?: boolean; existingOnly?: boolean } = {}): void {
    this.mode = {
      kind: 'freeze',
      replicationOnly: options.replicationOnly ?? false,
      ...(options.existingOnly ? { only: new Set(this.pairs) } : {}),
    };
  }

  /** Every chunk, either way, waits `delayMs` before it is delivered. */
  slow(delayMs: number): void {
    this.mode = { kind: 'slow', delayMs };
  }

  /** Back to normal; what a freeze held is delivered, in order. */
  heal(): void {
    this.mode = { kind: 'pass' };
    for (const pair of this.pairs) this.flush(pair);
  }

  /** Reset (RST) every open connection, as a lost node or a restarted NAT would. */
  resetAll(): void {
    for (const pair of [...this.pairs]) this.reset(pair);
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  async stop(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.injected.connections++;
    const server = new Socket();
    const pair: Pair = {
      client,
      server,
      replication: false,
      held: { toServer: [], toClient: [] },
      queue: {
        toServer: { tail: Promise.resolve(), pending: 0 },
        toClient: { tail: Promise.resolve(), pending: 0 },
      },
    };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      // The command itself (RESP: an array whose first bulk string is PSYNC or SYNC), not
      // the word anywhere: a script or an event that says "sync" is a client's.
      if (!pair.replication && REPLICATION_COMMAND.test(chunk.toString('latin1'))) {
        pair.replication = true;
      }
      this.forward(pair, 'toServer', chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.replyDrops > 0) {
        // The server has acted on what it was sent; the client never learns the outcome.
        this.replyDrops--;
        this.injected.droppedReplies++;
        this.reset(pair);
        return;
      }
      this.forward(pair, 'toClient', chunk);
    });
    server.connect(this.target.port, this.target.host);
  }

  private forward(pair: Pair, direction: 'toServer' | 'toClient', chunk: Buffer): void {
    const mode = this.mode;
    const frozen =
      mode.kind === 'freeze' &&
      (!mode.replicationOnly || pair.replication) &&
      (mode.only === undefined || mode.only.has(pair));
    if (frozen || pair.held[direction].length > 0) {
      pair.held[direction].push(chunk);
      if (!frozen) this.flush(pair);
      return;
    }
    this.deliver(pair, direction, chunk, mode.kind === 'slow' ? mode.delayMs : 0);
  }

  /** Writes `chunk` after `delayMs`, but never before a chunk that came before it. */
  private deliver(pair: Pair, direction: 'toServer' | 'toClient', chunk: Buffer, delayMs: number) {
    const to = direction === 'toServer' ? pair.server : pair.client;
    const queue = pair.queue[direction];
    if (delayMs === 0 && queue.pending === 0) {
      to.write(chunk);
      return;
    }
    queue.pending++;
    queue.tail = queue.tail
      .then(() => new Promise<void>((resolve) => setTimeout(resolve, delayMs)))
      .then(() => {
        queue.pending--;
        if (!to.destroyed) to.write(chunk);
      });
  }

  private flush(pair: Pair): void {
    for (const direction of ['toServer', 'toClient'] as const) {
      for (const chunk of pair.held[direction].splice(0)) this.deliver(pair, direction, chunk, 0);
    }
  }

  private reset(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    this.injected.resets++;
    pair.client.resetAndDestroy();
    pair.server.destroy();
  }
}
