// What a route of the sidecar's table (routes/) declares: its method and path, the
// inputs the router checks before its handler runs, and every answer it gives, from
// which the OpenAPI document is generated (openapi.ts). The router that dispatches
// from the table is router.ts; requests pipelined on one connection are ordered by
// pipelining.ts; bodies are read and replies written by body.ts.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ErrorStatus } from '../lib/errors.js';
import type { JsonSchema, Schema } from './schema.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Reply<S extends number = number> {
  status: S;
  body?: unknown;
  /** Preformatted text (Prometheus), sent instead of JSON. */
  text?: string;
  headers?: Record<string, string>;
  /**
   * A long answer (server-sent events): called with the response once its head is
   * written; it writes and ends the body itself.
   */
  stream?: (res: ServerResponse) => void;
}

// Error codes and statuses live in the catalogue (lib/errors.ts); re-exported for route modules.
export { ERROR_CODES, RETRY_AFTER_SECONDS, type ErrorStatus } from '../lib/errors.js';

/** A header a response carries (always, unless `required` is false). */
export interface HeaderSpec {
  description: string;
  schema: JsonSchema;
  required?: boolean;
}

/** One answer a route gives: without a schema it has no body. */
export interface ResponseSpec {
  description: string;
  schema?: JsonSchema;
  /** Default `application/json`. */
  mediaType?: string;
  headers?: Record<string, HeaderSpec>;
}

/** A `{name}` segment of a path template: percent-decoded, then checked. */
export interface PathParam<T> {
  schema: Schema<T>;
  /** Names the parameter in a 400's message, e.g. `session id: must not be empty`. */
  label: string;
}

/** A query schema: an object of strings whose fields the OpenAPI document lists one by one. */
export interface QuerySchema<Q> extends Schema<Q> {
  readonly shape: Record<string, Schema<unknown>>;
}

export interface BodySpec<B> {
  schema: Schema<B>;
  /** Checked instead when the body is empty or JSON null; without it a body is required. */
  default?: unknown;
}

/**
 * The error statuses a handler may throw itself (a Redis failure is 503, 409 or
 * 507: errors.ts); dispatch adds its own (`errorStatuses`).
 */
export type HandlerError = ErrorStatus;

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The request's headers, as node:http gives them (names in lower case). */
  headers: IncomingHttpHeaders;
}

/** A request header a route reads, for the OpenAPI document (the handler checks it). */
export interface HeaderParam {
  description: string;
  schema: JsonSchema;
}

/**
 * One route of the table. The router checks `params`, `query` and `body` (in
 * that order, each a 400 when wrong) before calling `handle`, which returns one
 * of the `responses` or throws an ApiError of a status in `errors`.
 */
export interface RouteSpec<D, P, Q, B, S extends number> {
  /** The OpenAPI operationId. */
  name: string;
  method: Method;
  /** `{name}` stands for one path segment. */
  path: string;
  summary: string;
  description?: string;
  params?: { [K in keyof P]: PathParam<P[K]> };
  query?: QuerySchema<Q>;
  body?: BodySpec<B>;
  /** Optional request headers the handler reads (documentation only: never a 400). */
  headers?: Record<string, HeaderParam>;
  responses: { [K in S]: ResponseSpec };
  errors?: readonly HandlerError[];
  /** A probe or a scrape: no access log line. */
  quiet?: boolean;
  handle(input: Input<P, Q, B>, deps: D): Reply<NoInfer<S>> | Promise<Reply<NoInfer<S>>>;
}

/** A route with its input types erased, as the router and the OpenAPI generator see it. */
export type Route<D> = RouteSpec<D, Record<string, unknown>, unknown, unknown, number>;

/** Every error status a route can answer: those its handler throws, and those dispatch adds. */
export function errorStatuses(route: Route<unknown>): ErrorStatus[] {
  const statuses = new Set<ErrorStatus>(route.errors);
  if (route.params || route.query || route.body) statuses.add(400);
  if (route.body) statuses.add(413).add(415);
  statuses.add(403).add(500);
  return [...statuses].sort((a, b) => a - b);
}
