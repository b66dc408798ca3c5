import {
  isOutcome,
  type OutcomeKind,
  type RedisFailureKind,
  type StoreError,
} from '../memory/errors.js';
import { formatEtag } from './etag.js';
import { ERRORS, type ErrorCode, type RedisFailureCode, type StatusOf } from '../lib/errors.js';

// Error answers with stable codes, each from the catalogue (lib/errors.ts). The
// router sends them as `{"error": {"code", "message"}}`; a 5xx never carries
// internals to the caller (they go to the log).

export interface ApiErrorOptions {
  cause?: unknown;
  /** Sent with the answer, e.g. the current `ETag` of a 412. */
  headers?: Record<string, string>;
}

/** An error answer: `status` must be one the catalogue gives `code` (checked by the compiler). */
export class ApiError<C extends ErrorCode = ErrorCode> extends Error {
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly status: StatusOf<C>,
    readonly code: C,
    message: string = ERRORS[code].message,
    options?: ApiErrorOptions,
  ) {
    super(message, options);
    this.headers = options?.headers;
  }
}

/** `instanceof ApiError`, typed (a bare instanceof gives `ApiError<any>`). */
export function isApiError(value: unknown): value is ApiError {
  return value instanceof ApiError;
}

/** The answer of `code`, with the catalogue's status (and its default message unless given). */
export function apiError<C extends ErrorCode>(
  code: C,
  message?: string,
  options?: ApiErrorOptions,
): ApiError<C> {
  return new ApiError(ERRORS[code].status, code, message, options);
}

export class BadRequestError extends ApiError<'bad_request'> {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}

export class NotFoundError extends ApiError<'not_found'> {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

export class PayloadTooLargeError extends ApiError<'payload_too_large'> {
  constructor(limit: number) {
    super(413, 'payload_too_large', `request body is larger than ${limit} bytes`);
  }
}

/**
 * The code of each kind of Redis failure (its status is the catalogue's). 503 (with
 * Retry-After) means "try the same request again later": for a write, with the same
 * event_id (README).
 */
export const STORE_FAILURES: Record<RedisFailureKind, RedisFailureCode> = {
  unavailable: 'unavailable',
  timeout: 'redis_timeout',
  readonly: 'redis_readonly',
  replicas: 'redis_replicas',
  auth: 'redis_auth',
  oom: 'redis_oom',
  layout: 'layout_conflict',
};

/** The code of each answer the store gives about the data (not a failure of Redis). */
export const STORE_OUTCOMES: Record<OutcomeKind, ErrorCode> = {
  conflict: 'event_id_conflict',
  precondition: 'precondition_failed',
  held: 'session_held',
};

/**
 * The answer to a request that a Redis failure stopped, or that the store refused
 * (a 412 carries the session's current `ETag`).
 */
export function storeFailure(err: StoreError): ApiError {
  if (isOutcome(err.kind)) {
    const headers = err.etag === undefined ? undefined : { etag: formatEtag(err.etag) };
    return apiError(STORE_OUTCOMES[err.kind], err.message, { cause: err, headers });
  }
  return apiError(STORE_FAILURES[err.kind], err.message, { cause: err });
}

/** /readyz's answer to a Redis failure: always 503 (not ready), with the failure's code. */
export function notReady(err: StoreError): ApiError {
  const code = isOutcome(err.kind) ? 'unavailable' : STORE_FAILURES[err.kind];
  return new ApiError(503, code, `not ready: ${err.message}`, { cause: err });
}
