// The API's OpenAPI 3.1 document, generated from the route table (routes/):
// request schemas are the JSON Schema of the very schemas the router checks
// with (schema.ts), response schemas are the table's, and the error answers are
// those the router gives for what each route declares (http.ts), described by
// the error catalogue (lib/errors.ts).
import {
  ERROR_CODES,
  ERRORS,
  RETRY_AFTER_SECONDS,
  STATUSES,
  type ErrorStatus,
} from '../lib/errors.js';
import { errorStatuses, type ResponseSpec, type Route } from './http.js';
import type { JsonSchema } from './schema.js';

type Json = Record<string, unknown>;

const JSON_MEDIA_TYPE = 'application/json';

/** A status's summary, then what each of its codes means (the catalogue's words). */
function errorDescription(status: ErrorStatus): string {
  const codes = ERROR_CODES[status].map((code) => `\`${code}\`: ${ERRORS[code].meaning}.`);
  return [STATUSES[status].summary, ...codes].join('\n\n');
}

const ERROR_HEADERS: Partial<Record<ErrorStatus, ResponseSpec['headers']>> = {
  412: {
    ETag: {
      description: "The session's current tag (none when the session does not exist).",
      schema: { type: 'string' },
      required: false,
    },
  },
  405: { Allow: { description: 'The methods this path takes.', schema: { type: 'string' } } },
  503: {
    'Retry-After': {
      description: `Seconds to wait (${RETRY_AFTER_SECONDS}).`,
      schema: { type: 'integer', minimum: 0 },
    },
  },
};

/** `{"error": {"code", "message"}}` with the code of this status. */
function errorResponse(status: ErrorStatus): Json {
  return response({
    description: errorDescription(status),
    schema: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { enum: ERROR_CODES[status] }, message: { type: 'string' } },
        },
      },
    },
    headers: ERROR_HEADERS[status],
  });
}

const errorRef = (status: ErrorStatus) => ({
  $ref: `#/components/responses/${STATUSES[status].name}`,
});

function response(spec: ResponseSpec): Json {
  const out: Json = { description: spec.description };
  if (spec.headers) {
    out.headers = Object.fromEntries(
      Object.entries(spec.headers).map(([name, h]) => [
        name,
        { ...h, required: h.required ?? true },
      ]),
    );
  }
  if (spec.schema) {
    out.content = { [spec.mediaType ?? JSON_MEDIA_TYPE]: { schema: spec.schema } };
  }
  return out;
}

function parameters(route: Route<unknown>): Json[] {
  const path = Object.entries(route.params ?? {}).map(([name, p]) => ({
    name,
    in: 'path',
    required: true,
    description: p.label,
    schema: p.schema.json,
  }));
  const query = Object.entries(route.query?.shape ?? {}).map(([name, field]) => ({
    name,
    in: 'query',
    required: !field.optional,
    schema: field.json,
  }));
  const headers = Object.entries(route.headers ?? {}).map(([name, h]) => ({
    name,
    in: 'header',
    required: false,
    description: h.description,
    schema: h.schema,
  }));
  return [...path, ...query, ...headers];
}

function operation(route: Route<unknown>): Json {
  const op: Json = { operationId: route.name, summary: route.summary };
  if (route.description) op.description = route.description;
  const params = parameters(route);
  if (params.length) op.parameters = params;
  if (route.body) {
    op.requestBody = {
      required: route.body.default === undefined,
      content: { [JSON_MEDIA_TYPE]: { schema: route.body.schema.json } },
    };
  }
  const responses: Json = {};
  for (const [status, spec] of Object.entries(route.responses)) responses[status] = response(spec);
  for (const status of errorStatuses(route)) responses[status] = errorRef(status);
  op.responses = responses;
  return op;
}

/** The document for `routes`; `schemas` are the shapes their responses refer to. */
export function openapiDocument(
  routes: readonly Route<unknown>[],
  schemas: Record<string, JsonSchema>,
): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'kaos-memory sidecar',
      version: '1',
      description:
        'Durable agent memory on Redis, in the KAOS RedisMemory layout. Served on 127.0.0.1:8790 inside the pod. ' +
        'Errors are {"error": {"code", "message"}}. A path not listed here answers 404 ' +
        '(components.responses.NotFound); a listed path asked with a method it does not take ' +
        'answers 405 with Allow (components.responses.MethodNotAllowed).',
    },
    paths,
    components: {
      schemas,
      responses: Object.fromEntries(
        (Object.keys(STATUSES).map(Number) as ErrorStatus[]).map((status) => [
          STATUSES[status].name,
          errorResponse(status),
        ]),
      ),
    },
  };
}
