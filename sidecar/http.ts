// A small router on node:http. The sidecar is on the hot path of every agent
// turn; express's middleware stack cost a measured share of throughput here
// (see docs/decisions.md), and the API is a handful of fixed routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, BadRequestError, PayloadTooLargeError } from './errors.js';

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body, or undefined when it is empty. */
  json(): Promise<unknown>;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Preformatted text (Prometheus), sent instead of JSON. */
  text?: string;
  headers?: Record<string, string>;
}

export type Handler = (req: Request) => Promise<Reply> | Reply;

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, template: string, handler: Handler): this {
    const names: string[] = [];
    const source = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.routes.push({ method, template, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** The route for a request, or why there is none. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | Reply {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, name] of route.names.entries()) {
        const raw = m[i + 1] ?? '';
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          return errorReply(
            new BadRequestError(`path segment ${name} is not valid percent-encoding`),
          );
        }
      }
      return { route, params };
    }
    if (allowed.length > 0) {
      return {
        ...errorReply(
          new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`),
        ),
        headers: { allow: allowed.join(', ') },
      };
    }
    return errorReply(new ApiError(404, 'not_found', `no route ${method} ${path}`));
  }
}

export function errorReply(err: ApiError): Reply {
  const reply: Reply = {
    status: err.status,
    body: { error: { code: err.code, message: err.message } },
  };
  if (err.status === 503) reply.headers = { 'retry-after': '1' };
  return reply;
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;.*)?$/i;

/** Reads a JSON body within `limit` bytes; never buffers more than the limit. */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  const type = req.headers['content-type'];
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
      if (type !== undefined && !JSON_TYPE.test(type)) {
        return reject(
          new ApiError(415, 'unsupported_media_type', 'the body must be application/json'),
        );
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new BadRequestError(`malformed JSON: ${(err as Error).message}`));
      }
    });
  });
}

export function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | number> = { ...reply.headers };
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
