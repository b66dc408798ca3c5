// The sidecar's route table: the one place each route is declared, with its
// method, path, inputs (checked by the router before the handler runs) and every
// answer it gives. The router (http.ts) dispatches from it and the OpenAPI
// document (openapi.ts) is generated from it; the API test suites check every
// live response against that document (harness/http.ts). Each module of this
// folder declares one group of routes; a handler is validated input → one store
// call → reply.
import type { Route } from '../http.js';
import { openapiDocument } from '../openapi.js';
import type { JsonSchema } from '../schema.js';
import { EVENT_ROUTES, EVENT_SCHEMAS } from './events.js';
import { HOLD_ROUTES } from './holds.js';
import { KAOS_ROUTES } from './kaos.js';
import { PROBE_ROUTES } from './probes.js';
import { SESSION_ROUTES } from './sessions.js';
import { STREAM_ROUTES } from './stream.js';
import { SUMMARY_ROUTES } from './summaries.js';
import { V2_ROUTES, V2_SCHEMAS } from './v2.js';
import { fields, route, SCHEMAS as SHARED_SCHEMAS, STRING, type RouteDeps } from './shapes.js';

export type { RouteDeps } from './shapes.js';

/** Every named shape, as components.schemas. */
export const SCHEMAS: Record<string, JsonSchema> = {
  ...SHARED_SCHEMAS,
  ...EVENT_SCHEMAS,
  ...V2_SCHEMAS,
};

/** Built on its first request: most sidecars are never asked. */
let document: Record<string, unknown> | undefined;

const OPENAPI = route({
  name: 'openapi',
  method: 'GET',
  path: '/openapi.json',
  summary: 'This document',
  responses: {
    200: {
      description: 'OpenAPI 3.1, generated from the route table',
      schema: fields({
        openapi: STRING,
        info: { type: 'object' },
        paths: { type: 'object' },
        components: { type: 'object' },
      }),
    },
  },
  handle: () => ({ status: 200, body: (document ??= openapiDocument(ROUTES, SCHEMAS)) }),
});

export const ROUTES: readonly Route<RouteDeps>[] = [
  ...PROBE_ROUTES,
  OPENAPI,
  ...SESSION_ROUTES,
  ...EVENT_ROUTES,
  ...STREAM_ROUTES,
  ...SUMMARY_ROUTES,
  ...HOLD_ROUTES,
  ...KAOS_ROUTES,
  ...V2_ROUTES,
];
