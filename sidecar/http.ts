// The sidecar's HTTP layer on node:http: what a route of the table (routes/)
// declares, and the router that dispatches from the table: it matches a request
// to a route, checks the inputs the route declares, calls its handler, and sends
// the reply or the error answer. No express (docs/decisions.md, "The sidecar does not use express"): the API is
// a dozen fixed routes on the path of every agent turn, and a router this size
// keeps a middleware stack out of that path.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { StoreError } from '../memory/errors.js';
import { ApiError, BadRequestError, PayloadTooLargeError, storeFailure } from './errors.js';
import type { JsonSchema, Schema } from './schema.js';
import { check, queryObject } from './validation.js';

export type Method = 'GET' | 'POST' | 'DELETE';

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

/**
 * The `error.code`s of each status the API answers with an error; the first is
 * the one the router itself uses. Redis failures have their own (errors.ts).
 */
export const ERROR_CODES = {
  400: ['bad_request'],
  403: ['forbidden_host'],
  404: ['not_found'],
  405: ['method_not_allowed'],
  409: ['layout_conflict'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  500: ['internal'],
  503: [
    'unavailable',
    'redis_timeout',
    'redis_readonly',
    'redis_replicas',
    'redis_auth',
    'redis_oom',
  ],
  507: ['redis_oom'],
} as const;

export type ErrorStatus = keyof typeof ERROR_CODES;

/** What a 503 tells the caller to wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;

/** A header a response always carries. */
export interface HeaderSpec {
  description: string;
  schema: JsonSchema;
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
export type HandlerError = 404 | 409 | 503 | 507;

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

/** What a failed request's log line names besides its route and status. */
export interface FailureDetail {
  /** The answer's `error.code`. */
  code: string | undefined;
  /** The session the request was about, when it named one. */
  session: string | undefined;
  /** What the handler threw, when it threw. */
  cause: unknown;
}

/** What the router reports to the server, for its metrics and logs. */
export interface DispatchHooks {
  /**
   * A response was sent; `template` is the route's path, or `unmatched`. `failure`
   * is set when the status is 400 or above.
   */
  responded(
    template: string,
    method: string,
    status: number,
    seconds: number,
    quiet: boolean,
    failure?: FailureDetail,
  ): void;
  /** A handler threw: an ApiError is answered with its status, anything else with a 500. */
  failed(err: unknown, template: string): void;
}

export interface RouterOptions {
  bodyLimitBytes: number;
  /**
   * Host header names served (ports aside): a page in a browser in the pod that
   * reached the API through a name of its own (DNS rebinding) is refused.
   */
  hosts: readonly string[] | 'any';
  hooks: DispatchHooks;
}

/** The names a loopback listener answers to: what an agent in the pod writes in a URL. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];

/** A route with this router's count of its requests in flight. */
interface Bound<D> {
  route: Route<D>;
  inFlight: number;
}

/** The routes of one path template, by method. */
interface PathEntry<D> {
  /** Undefined for a template without parameters, which is looked up by equality. */
  pattern: RegExp | undefined;
  names: string[];
  methods: Map<string, Bound<D>>;
  /** The Allow header of a 405 here. */
  allow: string;
  quiet: boolean;
}

const NS_PER_SECOND = 1e9;
/** On a socket: the request being handled there, which the next one waits for. */
const BUSY = Symbol('busy');
const NO_PARAMS: Record<string, string> = Object.freeze({});
const UNMATCHED = 'unmatched';

export class Router<D> {
  /** While draining (shutting down), no connection is kept alive past its response. */
  draining = false;

  private readonly exact = new Map<string, PathEntry<D>>();
  private readonly patterns: PathEntry<D>[] = [];
  private readonly bound: Bound<D>[] = [];

  constructor(
    routes: readonly Route<D>[],
    private readonly deps: D,
    private readonly options: RouterOptions,
  ) {
    const entries = new Map<string, PathEntry<D>>();
    for (const route of routes) {
      let entry = entries.get(route.path);
      if (!entry) {
        entry = { ...compile(route.path), methods: new Map(), allow: '', quiet: false };
        entries.set(route.path, entry);
        if (entry.pattern) this.patterns.push(entry);
        else this.exact.set(route.path, entry);
      }
      const where = `${route.method} ${route.path}`;
      if (entry.methods.has(route.method)) throw new Error(`${where} is in the table twice`);
      if (Object.keys(route.params ?? {}).join() !== entry.names.join()) {
        throw new Error(
          `${where}: params must declare exactly ${entry.names.join(', ') || 'none'}`,
        );
      }
      const bound = { route, inFlight: 0 };
      entry.methods.set(route.method, bound);
      entry.allow = [...entry.methods.keys()].join(', ');
      entry.quiet ||= route.quiet === true;
      this.bound.push(bound);
    }
  }

  /** node:http's request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    // Split by hand: a WHATWG URL per request is a measurable share of the hot path.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const method = req.method ?? 'GET';
    if (!this.hostAllowed(req.headers.host)) {
      const err = new ApiError(
        403,
        ERROR_CODES[403][0],
        'this API answers only to its loopback address',
      );
      return this.refuse(req, res, method, errorReply(err), started, false);
    }

    let entry = this.exact.get(path);
    let m: RegExpExecArray | null = null;
    for (let i = 0; entry === undefined && i < this.patterns.length; i++) {
      const candidate = this.patterns[i] as PathEntry<D>;
      m = candidate.pattern?.exec(path) ?? null;
      if (m) entry = candidate;
    }
    if (entry === undefined) {
      const err = new ApiError(404, ERROR_CODES[404][0], `no route ${method} ${path}`);
      return this.refuse(req, res, method, errorReply(err), started, false);
    }
    const bound = entry.methods.get(method);
    if (bound === undefined) {
      const err = new ApiError(405, ERROR_CODES[405][0], `${method} is not allowed on ${path}`);
      const reply = errorReply(err);
      reply.headers = { allow: entry.allow };
      return this.refuse(req, res, method, reply, started, entry.quiet);
    }
    let params = NO_PARAMS;
    if (m) {
      params = {};
      for (let i = 0; i < entry.names.length; i++) {
        const name = entry.names[i] as string;
        try {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        } catch {
          const err = new BadRequestError(`path segment ${name} is not valid percent-encoding`);
          return this.refuse(req, res, method, errorReply(err), started, entry.quiet);
        }
      }
    }
    const search = q < 0 ? '' : target.slice(q + 1);
    // Requests pipelined on one connection take effect in the order they were sent.
    const socket = req.socket as Socket & { [BUSY]?: Promise<void> };
    const before = socket[BUSY];
    const done = before
      ? before.then(() => this.run(bound, req, res, method, params, search, started))
      : this.run(bound, req, res, method, params, search, started);
    socket[BUSY] = done;
    void done.finally(() => {
      if (socket[BUSY] === done) delete socket[BUSY];
    });
  };

  private hostAllowed(header: string | undefined): boolean {
    if (this.options.hosts === 'any') return true;
    if (header === undefined) return false;
    const name = header.startsWith('[')
      ? header.slice(0, header.indexOf(']') + 1)
      : header.split(':')[0];
    return this.options.hosts.includes((name ?? '').toLowerCase());
  }

  /** Requests being handled now, per route. */
  inFlight(): { route: string; method: string; count: number }[] {
    return this.bound.map((b) => ({
      route: b.route.path,
      method: b.route.method,
      count: b.inFlight,
    }));
  }

  private async run(
    bound: Bound<D>,
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    params: Record<string, string>,
    search: string,
    started: bigint,
  ): Promise<void> {
    const route = bound.route;
    bound.inFlight++;
    let reply: Reply;
    let cause: unknown;
    try {
      const input = {
        params: route.params ? checkParams(route.params, params) : params,
        query: route.query
          ? check(route.query, queryObject(new URLSearchParams(search)), 'query')
          : undefined,
        body: route.body ? await this.readBody(route.body, req) : undefined,
        headers: req.headers,
      };
      reply = await route.handle(input, this.deps);
    } catch (thrown) {
      cause = thrown;
      this.options.hooks.failed(thrown, route.path);
      const err = thrown instanceof StoreError ? storeFailure(thrown) : thrown;
      if (err instanceof ApiError) {
        if (err.status === 413) res.setHeader('connection', 'close');
        reply = errorReply(err);
      } else {
        reply = errorReply(new ApiError(500, ERROR_CODES[500][0], 'internal error'));
      }
    }
    bound.inFlight--;
    const session = params.id ?? sessionParam(search);
    this.finish(res, route.path, method, reply, started, route.quiet === true, session, cause);
  }

  private async readBody(spec: BodySpec<unknown>, req: IncomingMessage): Promise<unknown> {
    // A write needs a JSON content type even when its body is empty: a browser sends
    // one only after a CORS preflight, which this API never grants (no CSRF).
    if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      req.resume();
      throw new ApiError(
        415,
        ERROR_CODES[415][0],
        'the request must be Content-Type: application/json',
      );
    }
    const raw = await readJson(req, this.options.bodyLimitBytes);
    return check(spec.schema, raw ?? spec.default, 'body');
  }

  /** Answers without a route: the body, if any, is not read. */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    reply: Reply,
    started: bigint,
    quiet: boolean,
  ): void {
    req.resume();
    this.finish(res, UNMATCHED, method, reply, started, quiet, undefined, undefined);
  }

  private finish(
    res: ServerResponse,
    template: string,
    method: string,
    reply: Reply,
    started: bigint,
    quiet: boolean,
    session: string | undefined,
    cause: unknown,
  ): void {
    if (this.draining && !res.headersSent) res.setHeader('connection', 'close');
    try {
      send(res, reply);
    } catch (err) {
      // The reply could not be encoded: this request fails, the process goes on.
      this.options.hooks.failed(err, template);
      reply = errorReply(new ApiError(500, ERROR_CODES[500][0], 'internal error'));
      if (!res.headersSent) send(res, reply);
      else res.destroy();
    }
    const seconds = Number(process.hrtime.bigint() - started) / NS_PER_SECOND;
    const failure = reply.status >= 400 ? { code: errorCode(reply), session, cause } : undefined;
    this.options.hooks.responded(template, method, reply.status, seconds, quiet, failure);
  }
}

/** A template's parameter names, and a pattern when it has any (each `{name}` one segment). */
function compile(template: string): { pattern: RegExp | undefined; names: string[] } {
  const names: string[] = [];
  const source = template
    .split(/\{(\w+)\}/)
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(part);
      return '([^/]+)';
    })
    .join('');
  return { pattern: names.length ? new RegExp(`^${source}$`) : undefined, names };
}

/** Checks the decoded path parameters in place (the object is this request's own). */
function checkParams(
  specs: Record<string, PathParam<unknown>>,
  params: Record<string, unknown>,
): Record<string, unknown> {
  for (const name in specs) {
    const spec = specs[name] as PathParam<unknown>;
    params[name] = check(spec.schema, params[name], spec.label);
  }
  return params;
}

/** The `error.code` of an error answer. */
function errorCode(reply: Reply): string | undefined {
  const error = (reply.body as { error?: { code?: unknown } } | undefined)?.error;
  return typeof error?.code === 'string' ? error.code : undefined;
}

/** `session_id` of a query string (GET /memory/events names its session there). */
function sessionParam(search: string): string | undefined {
  if (!search.includes('session_id=')) return undefined;
  return new URLSearchParams(search).get('session_id') ?? undefined;
}

function errorReply(err: ApiError): Reply {
  const reply: Reply = {
    status: err.status,
    body: { error: { code: err.code, message: err.message } },
  };
  if (err.status === 503) reply.headers = { 'retry-after': String(RETRY_AFTER_SECONDS) };
  return reply;
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;.*)?$/i;

/** Reads a JSON body within `limit` bytes; never buffers more than the limit. */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!failed) reject(new BadRequestError(`could not read the body: ${err.message}`));
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      if (size === 0) return resolve(undefined);
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new BadRequestError(`malformed JSON: ${(err as Error).message}`));
      }
    });
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | number> = { ...reply.headers };
  if (reply.stream) {
    res.writeHead(reply.status, headers);
    reply.stream(res);
    return;
  }
  let payload: string | undefined;
  if (reply.text !== undefined) {
    payload = reply.text;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers['content-type'] = 'application/json; charset=utf-8';
  }
  // One Buffer, off the V8 heap: its length is the content-length, and the
  // socket writes it as is (a string would be flattened and encoded twice).
  const bytes = payload === undefined ? undefined : Buffer.from(payload);
  if (bytes) headers['content-length'] = bytes.length;
  res.writeHead(reply.status, headers);
  res.end(bytes);
}
