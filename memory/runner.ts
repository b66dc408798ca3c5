// How the store talks to Redis: every call under a deadline, every failure
// classified, scripts by EVALSHA with one fallback to EVAL when the node lacks
// them, and writes as one MULTI/EXEC each, batched per hash slot (batch.ts).
import { Command } from 'ioredis';
import { TransactionBatcher, type Commands } from './batch.js';
import type { RedisClient } from './connection.js';
import { StoreError, classify } from './errors.js';
import type { LuaScript, ScriptCall } from './script.js';

/** How long WAIT may block: the rest of the call's deadline, less time for the reply. */
const WAIT_SHARE = 0.75;

export interface RunnerOptions {
  /** The deadline of every call. */
  timeoutMs: number;
  /** Replicas that must confirm a write (WAIT); 0 for none. */
  minReplicas: number;
}

export class ScriptRunner {
  private readonly batcher: TransactionBatcher;

  constructor(
    readonly redis: RedisClient,
    private readonly options: RunnerOptions,
  ) {
    this.batcher = new TransactionBatcher(redis, {
      minReplicas: options.minReplicas,
      waitMs: Math.floor(options.timeoutMs * WAIT_SHARE),
    });
  }

  /** A script outside MULTI (reads, deletes): they work when Redis is at maxmemory. */
  run<K extends string, A extends string, R>(
    script: LuaScript<K, A, R>,
    call: ScriptCall<K, A>,
  ): Promise<R> {
    const keys = script.keyList(call);
    const argv = script.argList(call);
    return this.deadline(
      withScript((useSha) =>
        useSha
          ? this.redis.evalsha(script.sha, keys.length, ...keys, ...argv)
          : this.redis.eval(script.lua, keys.length, ...keys, ...argv),
      ),
    ).then((raw) => script.parse(raw));
  }

  /** Like run, with every bulk string of the reply as a Buffer (bytes, not text). */
  runBuffers<K extends string, A extends string, R>(
    script: LuaScript<K, A, R>,
    call: ScriptCall<K, A>,
  ): Promise<R> {
    const keys = script.keyList(call);
    const argv = script.argList(call);
    // A Command with no reply encoding, not callBuffer: with auto-pipelining on, ioredis
    // 6 drops callBuffer's command name.
    const send = (useSha: boolean): Promise<unknown> => {
      const [name, ...args] = scriptCommand(useSha, script, keys, argv);
      const command = new Command(name, args, { replyEncoding: null });
      void this.redis.sendCommand(command);
      return command.promise;
    };
    return this.deadline(withScript(send)).then((raw) => script.parse(raw));
  }

  /**
   * A write script in one MULTI/EXEC on `slot` (any number outside Cluster), batched
   * with the others of this turn of the event loop.
   */
  async transact<K extends string, A extends string, R>(
    slot: number,
    script: LuaScript<K, A, R>,
    call: ScriptCall<K, A>,
  ): Promise<R> {
    const keys = script.keyList(call);
    const argv = script.argList(call);
    try {
      const [raw] = await this.deadline(
        withScript((useSha) =>
          this.batcher.run(slot, (tx) => tx.call(...scriptCommand(useSha, script, keys, argv))),
        ),
      );
      return script.parse(raw);
    } catch (err) {
      throw outcomeUnknown(err);
    }
  }

  /** Commands in one MULTI/EXEC on `slot`, under the deadline. */
  multi(slot: number, commands: Commands): Promise<unknown[]> {
    return this.deadline(this.batcher.run(slot, commands));
  }

  /** Every call has a deadline: a hung Redis becomes a 503, never a hung request. */
  deadline<T>(promise: Promise<T>): Promise<T> {
    return withDeadline(promise, this.options.timeoutMs);
  }
}

/**
 * `promise` within `ms`, its failure a StoreError of its kind where Redis said why: the
 * one deadline of every Redis call (the session store's and the facts').
 */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new StoreError('timeout', `redis did not answer within ${ms} ms`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(toStoreError(err));
      },
    );
  });
}

/**
 * EVALSHA, and EVAL once when the node does not have the script (its first use
 * there, or after a restart): EVAL runs it and caches it on that node.
 */
export async function withScript<T>(send: (useSha: boolean) => Promise<T>): Promise<T> {
  try {
    return await send(true);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return send(false);
  }
}

/** `withScript`'s command for `useSha`: EVALSHA sha or EVAL source, the key count, keys, args. */
export function scriptCommand(
  useSha: boolean,
  script: { sha: string; lua: string },
  keys: readonly string[],
  args: readonly (string | Buffer)[],
): [string, ...(string | Buffer)[]] {
  return [
    useSha ? 'evalsha' : 'eval',
    useSha ? script.sha : script.lua,
    String(keys.length),
    ...keys,
    ...args,
  ];
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}

/** A StoreError for a known condition of the server; anything else as an Error. */
function toStoreError(err: unknown): Error {
  if (err instanceof StoreError) return err;
  const kind = classify(err);
  if (kind === undefined) return err instanceof Error ? err : new Error(String(err));
  const messages: Record<string, string> = {
    unavailable: 'redis is unavailable',
    timeout: 'redis did not answer in time',
    auth: 'redis refused the credentials',
    oom: 'redis is out of memory (maxmemory reached)',
    readonly: 'redis is read-only here (a replica; a failover may be under way)',
    replicas: 'too few redis replicas confirmed the write',
    layout: 'a key in the memory layout holds another type',
  };
  // NOPERM is not a wrong password: the user exists and may not touch this key or command
  // (another tenant's prefix, decision 0036). Say so, without Redis's text (it may name a key).
  if (kind === 'auth' && err instanceof Error && err.message.startsWith('NOPERM')) {
    return new StoreError(
      kind,
      "redis refused a key or command to these credentials (NOPERM: outside this user's keys or commands)",
      { cause: err },
    );
  }
  const detail =
    kind === 'layout' && err instanceof Error
      ? `: ${err.message.replace(/^.*kaos-layout: /, '')}`
      : '';
  return new StoreError(kind, `${messages[kind] ?? kind}${detail}`, { cause: err });
}

/** A write cut off in flight may have been applied: say so, and how to retry safely. */
function outcomeUnknown(err: unknown): unknown {
  if (!(err instanceof StoreError) || (err.kind !== 'unavailable' && err.kind !== 'timeout')) {
    return err;
  }
  return new StoreError(
    err.kind,
    `${err.message}; the write may or may not have been stored: retry it with the same event_id`,
    { cause: err.cause },
  );
}
