// Coalesces the transactions started in one turn of the event loop into one
// pipeline per hash slot: each is still its own MULTI/EXEC, but they share one
// socket write and Redis answers them in one read. Under concurrent load that
// removes most of the sidecar's write syscalls, which cost more than everything
// else it does. With MEMORY_REDIS_MIN_REPLICAS, each pipeline ends with one WAIT,
// which covers every write before it on that connection: a transaction succeeds
// only when enough replicas hold it.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';
import { StoreError } from './errors.js';

/** Adds a transaction's commands, in order, between its MULTI and EXEC. */
export type Commands = (tx: ChainableCommander) => void;

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
    // ioredis nests MULTI…EXEC in a pipeline (its typings omit `multi` there).
    const pipeline = this.client.pipeline() as ChainableCommander & { multi(): void };
    // Where each transaction's replies start and end in the pipeline's.
    const spans = batch.map((tx) => {
      const from = pipeline.length;
      pipeline.multi();
      tx.commands(pipeline);
      void pipeline.exec(); // inside the pipeline: queues EXEC and returns the pipeline
      return { tx, from, to: pipeline.length };
    });
    const { minReplicas, waitMs } = this.durability;
    if (minReplicas > 0) pipeline.wait(minReplicas, waitMs);
    pipeline.exec().then(
      (results) => {
        let replicaError: StoreError | undefined;
        if (minReplicas > 0) {
          const [err, acked] = results?.at(-1) ?? [new Error('no reply to WAIT'), 0];
          if (err || Number(acked) < minReplicas) {
            replicaError = new StoreError(
              'replicas',
              `only ${Number(acked) || 0} of the ${minReplicas} replicas required confirmed the write within ${waitMs} ms`,
              { cause: err ?? undefined },
            );
          }
        }
        for (const { tx, from, to } of spans)
          settle(tx, results?.slice(from, to) ?? [], replicaError);
      },
      (err: unknown) => {
        for (const tx of batch) tx.reject(err);
      },
    );
  }
}

/**
 * `results` holds MULTI's, each QUEUED and EXEC's [error, reply]. When EXEC was
 * refused, the command that could not be queued says why (OOM, say), not EXECABORT.
 */
function settle(tx: Pending, results: [Error | null, unknown][], replicaError?: StoreError): void {
  const exec = results.at(-1);
  if (!exec) return tx.reject(new Error('redis returned no reply for a transaction'));
  const [err, replies] = exec;
  if (err) return tx.reject(results.find(([e]) => e)?.[0] ?? err);
  if (!Array.isArray(replies)) return tx.reject(new Error('redis aborted the transaction'));
  const failed = replies.find((r): r is Error => r instanceof Error);
  if (failed) return tx.reject(failed);
  if (replicaError) return tx.reject(replicaError);
  tx.resolve(replies);
}
