// The sidecar's HTTP API as the test suites call it. Every answer is checked
// against the OpenAPI document the sidecar generates from its route table
// (status, content type, required headers, body): one the document does not
// describe fails the call with a ContractViolation, whatever the test expected.
// There is no unchecked variant, so a suite cannot skip the check by accident.
import { request } from 'node:http';
import { openapiDocument } from '../sidecar/openapi.js';
import { ROUTES, SCHEMAS } from '../sidecar/routes/index.js';
import { ResponseValidator } from './openapi.js';

export interface ApiReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read fields freely
  /** The body as sent, as UTF-8 text. */
  text: string;
  /** The body's bytes as sent. */
  bytes: Buffer;
  headers: Headers;
}

/** A response that is not one the OpenAPI document gives; not a network error. */
export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

let validator: ResponseValidator | undefined;

/** The generated document, as /openapi.json serves it. */
export function sidecarOpenApi(): Record<string, unknown> {
  return openapiDocument(ROUTES, SCHEMAS);
}

/** Throws a ContractViolation unless `reply` is as the document describes it. */
export function checkReply(method: string, path: string, reply: ApiReply): ApiReply {
  validator ??= new ResponseValidator(sidecarOpenApi());
  const problems = validator.problems(method, path, reply);
  if (problems.length > 0) {
    throw new ContractViolation(
      `${method} ${path} answered ${reply.status}, which the OpenAPI document does not describe:\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        `\n  body: ${reply.text.slice(0, 500)}`,
    );
  }
  return reply;
}

function reply(status: number, headers: Headers, bytes: Buffer): ApiReply {
  const text = bytes.toString('utf8');
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status, body, text, bytes, headers };
}

/** A call through fetch; an object body is sent as JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiReply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  return checkReply(
    method,
    path,
    reply(res.status, res.headers, Buffer.from(await res.arrayBuffer())),
  );
}

/** A call through node:http that sends the path, headers and body exactly as given (fetch would normalise or refuse some). */
export function send(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<ApiReply> {
  const url = new URL(base);
  return new Promise<ApiReply>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of [value ?? []].flat()) h.append(name, v);
        }
        try {
          resolve(checkReply(method, path, reply(res.statusCode ?? 0, h, Buffer.concat(chunks))));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
