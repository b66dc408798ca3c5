import type { FailureKind, StoreError } from '../memory/errors.js';

// Errors with stable codes. The HTTP layer maps them to status codes; a 5xx
// never carries internals to the caller (they go to the log).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `request body is larger than ${limit} bytes`);
  }
}

/**
 * What each kind of Redis failure answers. 503 (with Retry-After) means "try the
 * same request again later": for a write, with the same event_id (README).
 */
const STORE_FAILURES: Record<FailureKind, { status: 409 | 412 | 503 | 507; code: string }> = {
  unavailable: { status: 503, code: 'unavailable' },
  timeout: { status: 503, code: 'redis_timeout' },
  readonly: { status: 503, code: 'redis_readonly' },
  replicas: { status: 503, code: 'redis_replicas' },
  auth: { status: 503, code: 'redis_auth' },
  oom: { status: 507, code: 'redis_oom' },
  layout: { status: 409, code: 'layout_conflict' },
  conflict: { status: 409, code: 'event_id_conflict' },
  precondition: { status: 412, code: 'precondition_failed' },
};

/** The answer to a request that a Redis failure stopped. */
export function storeFailure(err: StoreError): ApiError {
  const { status, code } = STORE_FAILURES[err.kind];
  return new ApiError(status, code, err.message, { cause: err });
}

/** /readyz's answer to a Redis failure: always 503 (not ready), with the failure's code. */
export function notReady(err: StoreError): ApiError {
  const failure = STORE_FAILURES[err.kind];
  const code = failure.status === 503 ? failure.code : `redis_${err.kind}`;
  return new ApiError(503, code, `not ready: ${err.message}`, { cause: err });
}
