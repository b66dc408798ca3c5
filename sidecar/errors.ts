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

/** Redis could not be reached in time: the caller may retry (503 with Retry-After). */
export class UnavailableError extends ApiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, 'unavailable', message, options);
  }
}

// Replies that mean "not now" rather than "never": the server is starting, busy or failing over.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY|CLUSTERDOWN|NOREPLICAS|OOM)\b/;

/**
 * True when an ioredis error says Redis is out of reach (socket closed, timeout,
 * offline) or transiently refusing, as opposed to rejecting the command itself.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message);
  return true;
}
