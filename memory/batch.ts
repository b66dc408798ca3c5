// Coalesces the transactions started in one turn of the event loop into one
// batch per hash slot: each is still its own MULTI/EXEC, but they share one
// socket write and Redis answers them in one read. Under concurrent load that
// removes most of the sidecar's write syscalls, which cost more than everything
// else it does. With MEMORY_REDIS_MIN_REPLICAS, each batch ends with one WAIT,
// which covers every write before it on that connection: a transaction succeeds
// only when enough replicas hold it.
//
// On one Redis (or Sentinel's primary) the commands are sent as plain commands while the
// socket is corked, not through ioredis's Pipeline: a Pipeline's objects outlive the young
// generation (5-7 KB of every append was promoted, then died in the old space; decision 0038,
// "Fifth pass"), and the same bytes reach Redis in one write either way. Cluster keeps the
// Pipeline, which routes by slot and follows MOVED and ASK.
import { Command, Redis, type ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';
import { StoreError } from './errors.js';

/** A transaction's commands, added in order between its MULTI and EXEC. */
export interface Transaction {
  call(name: string, ...args: (string | Buffer)[]): void;
}

/** Adds a transaction's commands. */
export type Commands = (tx: Transaction) => void;

/** A command's outcome as ioredis's Pipeline reports it: [error] or [null, reply]. */
type Result = [Error | null, unknown?];

export interface Durability {
  /** Replicas that must confirm a write (WAIT); 0 for none. */
  minReplicas: number;
  /** How long WAIT may block. */
  waitMs: number;
}

interface Pending {
  commands: Commands;
  resolve: (replies: unknown[]) => void;
  reject: (err: unknown) => void;
}

export class TransactionBatcher {
  /** Transactions of this turn, by the slot they write (one group outside Cluster). */
  private queue = new Map<number, Pending[]>();
  private scheduled = false;

  constructor(
    private readonly client: RedisClient,
    private readonly durability: Durability,
  ) {}

  /**
   * Queues one MULTI/EXEC on `slot` (any number outside Cluster); resolves with
   * EXEC's replies in command order, or rejects with the first error among them.
   */
  run(slot: number, commands: Commands): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const group = this.queue.get(slot);
      if (group) group.push({ commands, resolve, reject });
      else this.queue.set(slot, [{ commands, resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not nextTick: requests parsed in the same poll phase join one batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const groups = this.queue;
    this.queue = new Map();
    this.scheduled = false;
    for (const batch of groups.values()) this.send(batch);
  }

  private send(batch: Pending[]): void {
    const { minReplicas, waitMs } = this.durability;
    const outgoing = this.client instanceof Redis ? corked(this.client) : pipelined(this.client);
    // Where each transaction's replies start and end in the batch's.
    const spans = batch.map((tx) => {
      const from = outgoing.length();
      outgoing.call('multi');
      tx.commands(outgoing);
      outgoing.call('exec');
      return { tx, from, to: outgoing.length() };
    });
    if (minReplicas > 0) outgoing.call('wait', String(minReplicas), String(waitMs));
    outgoing.results().then(
      (results) => {
        let replicaError: StoreError | undefined;
        if (minReplicas > 0) {
          const [err, acked] = results.at(-1) ?? [new Error('no reply to WAIT'), 0];
          if (err || Number(acked) < minReplicas) {
            replicaError = new StoreError(
              'replicas',
              `only ${Number(acked) || 0} of the ${minReplicas} replicas required confirmed the write within ${waitMs} ms`,
              { cause: err ?? undefined },
            );
          }
        }
        for (const { tx, from, to } of spans) settle(tx, results.slice(from, to), replicaError);
      },
      (err: unknown) => {
        for (const tx of batch) tx.reject(err);
      },
    );
  }
}

interface Outgoing extends Transaction {
  length(): number;
  /** Every command's outcome, in order, once all have one. */
  results(): Promise<Result[]>;
}

/** Plain commands, written to the socket in one go when the batch is complete. */
function corked(redis: Redis): Outgoing {
  const commands: Command[] = [];
  return {
    call(name, ...args) {
      commands.push(new Command(name, args, { replyEncoding: 'utf8' }));
    },
    length: () => commands.length,
    results() {
      const outcomes = commands.map((command) =>
        command.promise.then(
          (reply): Result => [null, reply],
          (err: Error): Result => [err],
        ),
      );
      const stream = redis.stream as { cork(): void; uncork(): void } | undefined;
      stream?.cork();
      try {
        for (const command of commands) void redis.sendCommand(command);
      } finally {
        stream?.uncork();
      }
      return Promise.all(outcomes);
    },
  };
}

/** ioredis's Pipeline, which nests MULTI…EXEC (its typings omit `multi` there). */
function pipelined(client: RedisClient): Outgoing {
  const pipeline = client.pipeline() as ChainableCommander & { multi(): void };
  return {
    call(name, ...args) {
      if (name === 'multi') pipeline.multi();
      // Inside the pipeline: queues EXEC and returns the pipeline.
      else if (name === 'exec') void pipeline.exec();
      else void pipeline.call(name, ...args);
    },
    length: () => pipeline.length,
    results: () => pipeline.exec().then((results) => (results ?? []) as Result[]),
  };
}

/**
 * `results` holds MULTI's, each QUEUED and EXEC's [error, reply]. Any error fails the
 * transaction, the first one saying why: when EXEC was refused, the command that could not
 * be queued (OOM, say), not EXECABORT; a command never sent leaves EXEC's replies short.
 */
function settle(tx: Pending, results: Result[], replicaError?: StoreError): void {
  const exec = results.at(-1);
  if (!exec) return tx.reject(new Error('redis returned no reply for a transaction'));
  const first = results.find(([e]) => e)?.[0];
  if (first) return tx.reject(first);
  const [, replies] = exec;
  if (!Array.isArray(replies)) return tx.reject(new Error('redis aborted the transaction'));
  const failed = replies.find((r): r is Error => r instanceof Error);
  if (failed) return tx.reject(failed);
  if (replicaError) return tx.reject(replicaError);
  tx.resolve(replies);
}
