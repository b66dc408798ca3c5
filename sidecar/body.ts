// Bodies in and replies out, on node:http: a JSON request body read within its limit
// and checked against the route's schema, and a reply written as one Buffer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonBytes, parseJsonBody } from '../memory/json.js';
import { apiError, BadRequestError, PayloadTooLargeError } from './errors.js';
import type { BodySpec, Reply } from './http.js';
import { check } from './validation.js';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;.*)?$/i;

/** The request's body, checked against `spec`: 415 unless JSON, 413 past `limit`, 400 when wrong. */
export async function readBody(
  req: IncomingMessage,
  spec: BodySpec<unknown>,
  limit: number,
): Promise<unknown> {
  // A write needs a JSON content type even when its body is empty: a browser sends
  // one only after a CORS preflight, which this API never grants (no CSRF).
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
    req.resume();
    throw apiError('unsupported_media_type');
  }
  const raw = await readJson(req, limit);
  return check(spec.schema, raw ?? spec.default, 'body');
}

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
        resolve(parseJsonBody(text));
      } catch (err) {
        reject(new BadRequestError(`malformed JSON: ${(err as Error).message}`));
      }
    });
  });
}

/** Writes `reply`: JSON unless it is text. */
export function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | number> = { ...reply.headers };
  if (reply.stream) {
    res.writeHead(reply.status, headers);
    reply.stream(res);
    return;
  }
  // One Buffer, off the V8 heap: its length is the content-length, and the
  // socket writes it as is (a string would be flattened and encoded twice).
  let bytes: Buffer | undefined;
  if (reply.text !== undefined) {
    bytes = Buffer.from(reply.text);
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (reply.body !== undefined) {
    bytes = jsonBytes(reply.body);
    headers['content-type'] = 'application/json; charset=utf-8';
  }
  if (bytes) headers['content-length'] = bytes.length;
  res.writeHead(reply.status, headers);
  res.end(bytes);
}
