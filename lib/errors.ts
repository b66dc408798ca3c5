// The error catalogue: every `error.code` either deployable answers with, its HTTP
// status, its default message and what it means, in one place (as fastify's
// lib/errors.js). The sidecar's error classes and router, its OpenAPI document, the
// webhook's error answers and the README's error table are all derived from it
// (lib/errors.test.ts fails when the README differs). A new error answer is a new
// entry here, then `apiError(code)` (sidecar/errors.ts).

interface ErrorSpec {
  status: number;
  /** The message when the thrower gives none. */
  message: string;
  /** What it means and what to do: the README's table and the OpenAPI description. */
  meaning: string;
  /** A Redis failure (memory/errors.ts's kinds): `/readyz` answers it with 503. */
  redisFailure?: true;
}

export const ERRORS = {
  bad_request: {
    status: 400,
    message: 'bad request',
    meaning:
      'bad input; the message names the field (e.g. `body.content: nests deeper than 100 levels`)',
  },
  forbidden_host: {
    status: 403,
    message: 'this API answers only to its loopback address',
    meaning:
      'the `Host` header is not `127.0.0.1`, `localhost` or `[::1]`: a page that reached the API through a name of its own (DNS rebinding)',
  },
  forbidden_scope: {
    status: 403,
    message: 'this agent may not reach that memory',
    meaning: "a scope or attribution names another agent than the pod's own `AGENT_IDENTITY`",
  },
  not_found: {
    status: 404,
    message: 'not found',
    meaning: 'no such session, or no route has this path; the message says which',
  },
  method_not_allowed: {
    status: 405,
    message: 'method not allowed',
    meaning: 'the path does not take this method; `Allow` lists those it takes',
  },
  layout_conflict: {
    status: 409,
    message: 'a key of this session holds another type',
    meaning:
      "a key of this session holds another type than the layout's (written by something else); nothing changed",
    redisFailure: true,
  },
  event_id_conflict: {
    status: 409,
    message: 'the event_id is stored with other content',
    meaning:
      'an `event_id` already stored with another `event_type` or `content`: a retry must repeat the event exactly; nothing of the batch was stored',
  },
  session_held: {
    status: 409,
    message: 'the session is under a legal hold',
    meaning:
      'the session is under a legal hold: it cannot be deleted or erased until the hold is lifted',
  },
  precondition_failed: {
    status: 412,
    message: 'the session changed',
    meaning:
      'the session changed since the `If-Match` tag was read (a Python write included), or does not exist; with `If-None-Match: *`, it exists. The answer carries the current `ETag` (none when the session does not exist)',
  },
  precondition_required: {
    status: 428,
    message: 'this request needs an If-Match header',
    meaning:
      'a write that must be conditional (`POST …/summaries`) came without an `If-Match` naming the session tag it was read at',
  },
  payload_too_large: {
    status: 413,
    message: 'request body is too large',
    meaning:
      'the body is over the size limit (`MEMORY_BODY_LIMIT_BYTES`); the connection is closed',
  },
  unsupported_media_type: {
    status: 415,
    message: 'the request must be Content-Type: application/json',
    meaning: 'a write whose `Content-Type` is neither `application/json` nor `…+json`',
  },
  too_many_streams: {
    status: 429,
    message: 'too many event streams are open',
    meaning:
      'the sidecar already serves as many event streams as it allows; close one, or retry later',
  },
  internal: {
    status: 500,
    message: 'internal error',
    meaning: 'an unexpected error: a bug. The log has the details, the answer has none',
  },
  unavailable: {
    status: 503,
    message: 'redis is unavailable',
    meaning: 'Redis cannot be reached (no connection, or it was lost)',
    redisFailure: true,
  },
  redis_timeout: {
    status: 503,
    message: 'redis did not answer in time',
    meaning: 'Redis did not answer within `MEMORY_REDIS_TIMEOUT_MS`',
    redisFailure: true,
  },
  redis_readonly: {
    status: 503,
    message: 'redis is a replica',
    meaning: 'the Redis node is a replica (a failover is under way or just happened)',
    redisFailure: true,
  },
  redis_replicas: {
    status: 503,
    message: 'too few replicas confirmed the write',
    meaning: 'fewer replicas than `MEMORY_REDIS_MIN_REPLICAS` confirmed the write',
    redisFailure: true,
  },
  redis_auth: {
    status: 503,
    message: 'redis refused the credentials',
    meaning: 'Redis refused the password or user, or the user lacks a permission (ACL)',
    redisFailure: true,
  },
  redis_oom: {
    status: 507,
    message: 'redis is out of memory',
    meaning:
      'Redis is at `maxmemory` and refuses writes; reads and deletes still work, and a retry will not help until memory is freed',
    redisFailure: true,
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorStatus = (typeof ERRORS)[ErrorCode]['status'];
/** The codes of Redis failures. */
export type RedisFailureCode = {
  [C in ErrorCode]: (typeof ERRORS)[C] extends { redisFailure: true } ? C : never;
}[ErrorCode];
/** The statuses an answer of code `C` may have: its own, and 503 on `/readyz` for a Redis failure. */
export type StatusOf<C extends ErrorCode> =
  (typeof ERRORS)[C]['status'] | (C extends RedisFailureCode ? 503 : never);

/** What a 503 tells the caller to wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;

/** Each error status as the OpenAPI document names and sums it up (its codes follow). */
export const STATUSES: Record<ErrorStatus, { name: string; summary: string }> = {
  400: { name: 'BadRequest', summary: 'Bad input; the message says what was wrong.' },
  403: { name: 'Forbidden', summary: 'The request may not reach this API or this memory.' },
  404: { name: 'NotFound', summary: 'Nothing here.' },
  405: { name: 'MethodNotAllowed', summary: 'A method this path does not take.' },
  409: { name: 'Conflict', summary: 'The session is in a state that refuses this request.' },
  412: { name: 'PreconditionFailed', summary: 'A condition of the request no longer holds.' },
  413: { name: 'PayloadTooLarge', summary: 'The body is too large.' },
  415: { name: 'UnsupportedMediaType', summary: 'The body is not JSON.' },
  428: {
    name: 'PreconditionRequired',
    summary: 'The request must be conditional (RFC 6585): send If-Match.',
  },
  429: { name: 'TooManyRequests', summary: 'A limit on concurrent use is reached.' },
  500: { name: 'Internal', summary: 'An unexpected error.' },
  503: {
    name: 'Unavailable',
    summary:
      `Redis cannot serve this now; the code says why, and /readyz answers every Redis failure's code with 503. ` +
      `Retry after Retry-After seconds (${RETRY_AFTER_SECONDS}). ` +
      'A write answered 503 may have been stored: retry it with the same event_id, which is never stored twice.',
  },
  507: { name: 'RedisOutOfMemory', summary: 'Redis refuses writes.' },
};

const CODES = Object.keys(ERRORS) as ErrorCode[];

/**
 * The codes each status answers with, in catalogue order: a Redis failure's code is
 * also a 503 (readiness).
 */
export const ERROR_CODES = codesByStatus();

function codesByStatus(): Record<ErrorStatus, readonly ErrorCode[]> {
  const byStatus = {} as Record<ErrorStatus, ErrorCode[]>;
  for (const status of Object.keys(STATUSES).map(Number) as ErrorStatus[]) {
    byStatus[status] = CODES.filter((code) => {
      const spec: ErrorSpec = ERRORS[code];
      return spec.status === status || (status === 503 && spec.redisFailure === true);
    });
  }
  return byStatus;
}

/** The README's error table, one row per code: status, code, meaning. */
export function errorTableRows(): [string, string, string][] {
  return [...CODES]
    .sort((a, b) => ERRORS[a].status - ERRORS[b].status)
    .map((code) => [String(ERRORS[code].status), `\`${code}\``, ERRORS[code].meaning]);
}
