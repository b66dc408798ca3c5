// Coalesces the transactions started in one turn of the event loop into one
// pipeline: each is still its own MULTI/EXEC, but they share one socket write
// and Redis answers them in one read. Under concurrent load that removes most
// of the sidecar's write syscalls, which cost more than everything else it does.
import type { ChainableCommander, Redis } from 'ioredis';

/** Adds a transaction's commands, in order, between its MULTI and EXEC. */
export type Commands = (tx: ChainableCommander) => void;

interface Pending {
  commands: Commands;
  resolve: (replies: unknown[]) => void;
  reject: (err: unknown) => void;
}

export class TransactionBatcher {
  private queue: Pending[] = [];

  constructor(private readonly redis: Redis) {}

  /**
   * Queues one MULTI/EXEC; resolves with EXEC's replies in command order, or
   * rejects with the first error among them (or the pipeline's own error).
   */
  run(commands: Commands): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      // setImmediate, not nextTick: requests parsed in the same poll phase join one batch.
      if (this.queue.push({ commands, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    // ioredis nests MULTI…EXEC in a pipeline (its typings omit `multi` there).
    const pipeline = this.redis.pipeline() as ChainableCommander & { multi(): void };
    // Where each transaction's replies start and end in the pipeline's.
    const spans = batch.map((tx) => {
      const from = pipeline.length;
      pipeline.multi();
      tx.commands(pipeline);
      void pipeline.exec(); // inside the pipeline: queues EXEC and returns the pipeline
      return { tx, from, to: pipeline.length };
    });
    pipeline.exec().then(
      (results) => {
        for (const { tx, from, to } of spans) settle(tx, results?.slice(from, to) ?? []);
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
function settle(tx: Pending, results: [Error | null, unknown][]): void {
  const exec = results.at(-1);
  if (!exec) return tx.reject(new Error('redis returned no reply for a transaction'));
  const [err, replies] = exec;
  if (err) return tx.reject(results.find(([e]) => e)?.[0] ?? err);
  if (!Array.isArray(replies)) return tx.reject(new Error('redis aborted the transaction'));
  const failed = replies.find((r): r is Error => r instanceof Error);
  if (failed) return tx.reject(failed);
  tx.resolve(replies);
}
