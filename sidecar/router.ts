// The sidecar's router on node:http: it matches a request to a route of the table
// (http.ts, routes/), checks the inputs the route declares, calls its handler once
// the requests before it on its connection are answered (pipelining.ts), and sends
// the reply or the error answer. No express (docs/decisions.md, "The sidecar does
// not use express"): the API is a dozen fixed routes on the path of every agent
// turn, and a router this size keeps a middleware stack out of that path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RETRY_AFTER_SECONDS } from '../lib/errors.js';
import { StoreError } from '../memory/errors.js';
import { readBody, send } from './body.js';
import { apiError, BadRequestError, isApiError, storeFailure, type ApiError } from './errors.js';
import type { PathParam, Reply, Route } from './http.js';
import { Pipelining } from './pipelining.js';
import { check, queryObject } from './validation.js';

/** What a failed request's log line names besides its route and status. */
export interface FailureDetail {
  /** The answer's `error.code`. */
  code: string | undefined;
  /** The session the request was about, when it named one. */
  session: string | undefined;
  /** What the handler threw, when it threw. */
  cause: unknown;
}

/** One answered request, as the server counts and logs it. */
export interface Responded {
  /** The route's path template, or `unmatched`. */
  readonly route: string;
  readonly method: string;
  readonly status: number;
  readonly seconds: number;
  /** A probe or a scrape: no access log line. */
  readonly quiet: boolean;
  /** Set when the status is 400 or above. */
  readonly failure: FailureDetail | undefined;
}

/** What the router reports to the server, for its metrics and logs. */
export interface DispatchHooks {
  /** A response was sent. */
  responded(done: Responded): void;
  /** A handler threw: an ApiError is answered with its status, anything else with a 500. */
  failed(err: unknown, template: string): void;
  /** Requests dropped unrun: their client had gone, or their connection was closed. */
  abandoned(count: number): void;
  /** A connection was closed for having more requests waiting than it may. */
  overflowed(maxQueued: number): void;
}

export interface RouterOptions {
  bodyLimitBytes: number;
  /**
   * Host header names served (ports aside): a page in a browser in the pod that
   * reached the API through a name of its own (DNS rebinding) is refused.
   */
  hosts: readonly string[] | 'any';
  /** Requests one connection may have waiting behind the one being answered. Default 64. */
  maxPipelined?: number;
  /**
   * Every answer is quiet, as a probe's is (no access or failure log line), matched or not:
   * for a listener anyone on the pod network can reach.
   */
  quiet?: boolean;
  hooks: DispatchHooks;
}

/** The names a loopback listener answers to: what an agent in the pod writes in a URL. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];

/** A client that pipelines more requests than this without taking the answers is cut off. */
const MAX_PIPELINED = 64;
const NS_PER_SECOND = 1e9;
const NO_PARAMS: Record<string, string> = Object.freeze({});
const UNMATCHED = 'unmatched';

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

/** One request on its way through the router, and then its answer as `Responded`. */
class Exchange implements Responded {
  route = UNMATCHED;
  quiet = false;
  status = 0;
  seconds = 0;
  failure: FailureDetail | undefined = undefined;
  /** The matched route's path parameters, percent-decoded. */
  params = NO_PARAMS;
  /** The query string, without its `?`. */
  search = '';
  readonly started = process.hrtime.bigint();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly method: string,
  ) {}
}

export class Router<D> {
  /** While draining (shutting down), no connection is kept alive past its response. */
  draining = false;

  private readonly exact = new Map<string, PathEntry<D>>();
  private readonly patterns: PathEntry<D>[] = [];
  private readonly bound: Bound<D>[] = [];
  private readonly pipelining: Pipelining;
  /** The last Host header found allowed. */
  private allowedHost: string | undefined;
  private readonly allQuiet: boolean;

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
    this.allQuiet = options.quiet === true;
    this.pipelining = new Pipelining({
      maxQueued: options.maxPipelined ?? MAX_PIPELINED,
      abandoned: (count) => options.hooks.abandoned(count),
      overflowed: (max) => options.hooks.overflowed(max),
    });
  }

  /** node:http's request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const exchange = new Exchange(req, res, req.method ?? 'GET');
    exchange.quiet = this.allQuiet;
    const method = exchange.method;
    // Split by hand: a WHATWG URL per request is a measurable share of the hot path.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (!this.hostAllowed(req.headers.host)) {
      return this.refuse(exchange, errorReply(apiError('forbidden_host')));
    }

    let entry = this.exact.get(path);
    let m: RegExpExecArray | null = null;
    for (let i = 0; entry === undefined && i < this.patterns.length; i++) {
      const candidate = this.patterns[i] as PathEntry<D>;
      m = candidate.pattern?.exec(path) ?? null;
      if (m) entry = candidate;
    }
    if (entry === undefined) {
      return this.refuse(exchange, errorReply(apiError('not_found', `no route ${method} ${path}`)));
    }
    exchange.quiet = this.allQuiet || entry.quiet;
    const bound = entry.methods.get(method);
    if (bound === undefined) {
      const err = apiError('method_not_allowed', `${method} is not allowed on ${path}`);
      const reply = errorReply(err);
      reply.headers = { allow: entry.allow };
      return this.refuse(exchange, reply);
    }
    if (m) {
      const params: Record<string, string> = {};
      for (let i = 0; i < entry.names.length; i++) {
        const name = entry.names[i] as string;
        try {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        } catch {
          const err = new BadRequestError(`path segment ${name} is not valid percent-encoding`);
          return this.refuse(exchange, errorReply(err));
        }
      }
      exchange.params = params;
    }
    if (q >= 0) exchange.search = target.slice(q + 1);
    exchange.route = bound.route.path;
    exchange.quiet = this.allQuiet || bound.route.quiet === true;
    this.pipelining.schedule(req, res, () => this.run(bound, exchange));
  };

  private hostAllowed(header: string | undefined): boolean {
    if (this.options.hosts === 'any') return true;
    if (header === undefined) return false;
    // A client names the same Host on every request: one comparison, no strings made.
    if (header === this.allowedHost) return true;
    const name = header.startsWith('[')
      ? header.slice(0, header.indexOf(']') + 1)
      : header.split(':')[0];
    const allowed = this.options.hosts.includes((name ?? '').toLowerCase());
    if (allowed) this.allowedHost = header;
    return allowed;
  }

  /** Requests waiting now behind another on their connection. */
  queued(): number {
    return this.pipelining.queued;
  }

  /** Requests being handled now, per route. */
  inFlight(): { route: string; method: string; count: number }[] {
    return this.bound.map((b) => ({
      route: b.route.path,
      method: b.route.method,
      count: b.inFlight,
    }));
  }

  private async run(bound: Bound<D>, exchange: Exchange): Promise<void> {
    const { route } = bound;
    const { req, res, params } = exchange;
    bound.inFlight++;
    let reply: Reply;
    let cause: unknown;
    try {
      const input = {
        params: route.params ? checkParams(route.params, params) : params,
        query: route.query
          ? check(route.query, queryObject(new URLSearchParams(exchange.search)), 'query')
          : undefined,
        body: route.body ? await readBody(req, route.body, this.options.bodyLimitBytes) : undefined,
        headers: req.headers,
      };
      reply = await route.handle(input, this.deps);
    } catch (thrown) {
      cause = thrown;
      this.options.hooks.failed(thrown, route.path);
      const err = thrown instanceof StoreError ? storeFailure(thrown) : thrown;
      if (isApiError(err)) {
        if (err.status === 413) res.setHeader('connection', 'close');
        reply = errorReply(err);
      } else {
        reply = errorReply(apiError('internal'));
      }
    }
    bound.inFlight--;
    this.finish(exchange, reply, cause);
  }

  /** Answers without a route: the body, if any, is not read. */
  private refuse(exchange: Exchange, reply: Reply): void {
    exchange.req.resume();
    this.finish(exchange, reply, undefined);
  }

  private finish(exchange: Exchange, reply: Reply, cause: unknown): void {
    const { res } = exchange;
    if (this.draining && !res.headersSent) res.setHeader('connection', 'close');
    // A client that has gone gets no reply: nothing to encode.
    if (!res.destroyed) {
      try {
        send(res, reply);
      } catch (err) {
        // The reply could not be encoded: this request fails, the process goes on.
        this.options.hooks.failed(err, exchange.route);
        reply = errorReply(apiError('internal'));
        if (!res.headersSent) send(res, reply);
        else res.destroy();
      }
    }
    exchange.status = reply.status;
    exchange.seconds = Number(process.hrtime.bigint() - exchange.started) / NS_PER_SECOND;
    if (reply.status >= 400) {
      const session = exchange.params.id ?? sessionParam(exchange.search);
      exchange.failure = { code: errorCode(reply), session, cause };
    }
    this.options.hooks.responded(exchange);
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
  if (err.headers) reply.headers = { ...reply.headers, ...err.headers };
  return reply;
}
