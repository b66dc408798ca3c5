// What went wrong with Redis, told apart: each kind has its own error code, HTTP
// status (sidecar/errors.ts), metric label and log line, because each asks for a
// different action (wait and retry, free memory, fix a password, fix the data).

export type FailureKind =
  /** No connection, or it was lost: retry later; a write's outcome may be unknown. */
  | 'unavailable'
  /** No answer within the deadline (hung server, black-holed network). */
  | 'timeout'
  /** Wrong password or user, or no permission (ACL). */
  | 'auth'
  /** maxmemory reached with a noeviction policy: writes refused until memory is freed. */
  | 'oom'
  /** The node is a replica (a failover is under way or just happened). */
  | 'readonly'
  /** Fewer replicas than MEMORY_REDIS_MIN_REPLICAS confirmed the write. */
  | 'replicas'
  /** A key in the layout has the wrong type (written by something else). */
  | 'layout'
  | OutcomeKind;

/** Answers about the data, not failures of Redis: they count in no Redis metric or alert. */
export type OutcomeKind =
  /** An event_id stored with other content. */
  | 'conflict'
  /** The session is not at the tag (or digest version) required, or (create-only) exists. */
  | 'precondition'
  /** The session is under a legal hold: it is not deleted. */
  | 'held';

export type RedisFailureKind = Exclude<FailureKind, OutcomeKind>;

const OUTCOMES: ReadonlySet<string> = new Set<OutcomeKind>(['conflict', 'precondition', 'held']);

export function isOutcome(kind: FailureKind): kind is OutcomeKind {
  return OUTCOMES.has(kind);
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** With kind precondition: the session's current tag (undefined when it does not exist). */
  readonly etag: string | undefined;
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: { cause?: unknown; etag?: string | undefined },
  ) {
    super(message, options);
    this.etag = options?.etag;
  }
}

// Replies that mean "not now": the server is starting, busy or failing over.
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|MOVED|ASK)\b/;

/**
 * The kind of failure an ioredis error is, or undefined when Redis rejected the
 * command itself (a bug here, not a condition of the server).
 */
export function classify(err: unknown): FailureKind | undefined {
  if (err instanceof StoreError) return err.kind;
  if (!(err instanceof Error)) return undefined;
  const message = err.message;
  if (err.name !== 'ReplyError') {
    // Not a reply: a socket error, a closed connection, a timeout, "Cluster isn't ready".
    return /timed? ?out/i.test(message) ? 'timeout' : 'unavailable';
  }
  if (/^(NOAUTH|WRONGPASS|NOPERM)\b/.test(message)) return 'auth';
  if (message.startsWith('OOM ')) return 'oom';
  if (message.startsWith('READONLY ')) return 'readonly';
  if (message.startsWith('NOREPLICAS ')) return 'replicas';
  if (message.startsWith('WRONGTYPE ') || message.includes('kaos-layout:')) return 'layout';
  if (message.startsWith('EXECABORT ')) return classifyCause(err);
  if (TRANSIENT.test(message)) return 'unavailable';
  return undefined;
}

/** EXECABORT carries the reply that made a queued command fail, when ioredis kept it. */
function classifyCause(err: Error): FailureKind | undefined {
  const previous = (err as { previousErrors?: unknown[] }).previousErrors;
  for (const cause of previous ?? []) {
    const kind = classify(cause);
    if (kind) return kind;
  }
  return /OOM/.test(err.message) ? 'oom' : undefined;
}
