// The sidecar's route table: the one place each route is declared, with its
// method, path, inputs (checked by the router before the handler runs) and every
// answer it gives. The router (http.ts) dispatches from it and the OpenAPI
// document (openapi.ts) is generated from it; the API test suites check every
// live response against that document (harness/http.ts).
// A handler: validated input → one store call → reply.
import { randomBytes } from 'node:crypto';
import { contextMessages, contextText, CONVERSATION_TYPES } from './context.js';
import {
  decodeEventCursor,
  decodeSessionCursor,
  encodeEventCursor,
  encodeSessionCursor,
} from './cursor.js';
import { StoreError } from '../memory/errors.js';
import { BadRequestError, notReady, NotFoundError } from './errors.js';
import type { MemoryEvent } from '../memory/events.js';
import type { PathParam, Route, RouteSpec } from './http.js';
import { openapiDocument } from './openapi.js';
import type { JsonSchema } from './schema.js';
import type { MemoryStore } from '../memory/store.js';
import { parseTraceparent, withTrace } from './trace.js';
import {
  appendBody,
  eraseUserQuery,
  contextQuery,
  createSessionBody,
  kaosEventsQuery,
  listEventsQuery,
  listSessionsQuery,
  sessionId,
} from './validation.js';

export interface RouteDeps {
  store: MemoryStore;
  agentName: string;
  metrics: () => Promise<{ contentType: string; text: string }>;
}

/** Owner of a session created by an append, or by a create that names none (KAOS's defaults). */
const DEFAULT_OWNER = { userId: 'user', appName: 'agent' };
/** `session_` and 12 hex digits, as KAOS generates them. */
const SESSION_ID_BYTES = 6;
/** GET /memory/sessions: at most this many ids, the most recently updated. */
const KAOS_SESSIONS_MAX = 10_000;
/** GET /memory/events without a session: the newest events of this many recent sessions. */
const KAOS_RECENT_SESSIONS = 20;

// --- response shapes --------------------------------------------------------
// Plain JSON Schema. Each object lists every field the handler sends, all of
// them always present; the suites' validator treats a listed object as closed,
// so a field sent but not described here fails a test.

/** An object whose listed fields are all present. */
function fields(properties: Record<string, JsonSchema>): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties };
}
const arrayOf = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
const ref = (name: keyof typeof SCHEMAS): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const STRING = { type: 'string' };
const BOOLEAN = { type: 'boolean' };
const COUNT = { type: 'integer', minimum: 0 };
const TIME = {
  type: 'string',
  description: 'ISO-8601 UTC with offset, e.g. 2026-02-17T10:00:00.123456+00:00',
};
const NEXT_CURSOR = {
  type: ['string', 'null'],
  description: 'Pass it as `cursor` for the next page; null on the last page.',
};
const AGENT = { type: 'string', description: "The agent's name (AGENT_NAME)." };
const SESSION_FIELDS = {
  session_id: STRING,
  user_id: STRING,
  app_name: STRING,
  created_at: TIME,
  updated_at: TIME,
};

/** The named shapes, as components.schemas. */
export const SCHEMAS = {
  Event: fields({
    event_id: STRING,
    timestamp: TIME,
    event_type: STRING,
    content: { description: 'Any JSON value.' },
    metadata: { type: 'object' },
  }),
  Session: fields(SESSION_FIELDS),
  SessionWithCount: fields({ agent: AGENT, ...SESSION_FIELDS, event_count: COUNT }),
  CreatedSession: fields({
    agent: AGENT,
    created: BOOLEAN,
    ...SESSION_FIELDS,
    event_count: COUNT,
  }),
  SessionPage: fields({
    agent: AGENT,
    sessions: arrayOf({ $ref: '#/components/schemas/Session' }),
    next_cursor: NEXT_CURSOR,
  }),
  EventPage: fields({
    agent: AGENT,
    session_id: STRING,
    events: arrayOf({ $ref: '#/components/schemas/Event' }),
    next_cursor: NEXT_CURSOR,
  }),
  AppendResult: fields({
    agent: AGENT,
    session_id: STRING,
    session_created: BOOLEAN,
    stored: COUNT,
    duplicates: COUNT,
    events: arrayOf(fields({ event_id: STRING, stored: BOOLEAN })),
  }),
} satisfies Record<string, JsonSchema>;

const SESSION_PARAMS: { id: PathParam<string> } = {
  id: { schema: sessionId, label: 'session id' },
};

/** Declares one route; the types of its handler's input come from its schemas. */
function route<P = Record<string, never>, Q = undefined, B = undefined, S extends number = never>(
  spec: RouteSpec<RouteDeps, P, Q, B, S>,
): Route<RouteDeps> {
  return spec as unknown as Route<RouteDeps>;
}

/** Built on its first request: most sidecars are never asked. */
let document: Record<string, unknown> | undefined;

export const ROUTES: readonly Route<RouteDeps>[] = [
  route({
    name: 'health',
    method: 'GET',
    path: '/healthz',
    summary: 'The process is up',
    quiet: true,
    responses: { 200: { description: 'up', schema: fields({ status: { const: 'ok' } }) } },
    handle: () => ({ status: 200, body: { status: 'ok' } }),
  }),

  route({
    name: 'ready',
    method: 'GET',
    path: '/readyz',
    summary:
      'A write would succeed on the Redis in use (each primary accepts writes; enough replicas in sync)',
    quiet: true,
    responses: { 200: { description: 'ready', schema: fields({ status: { const: 'ready' } }) } },
    errors: [503],
    handle: async (_, { store }) => {
      // Any Redis failure means "not ready": a 503, with the failure's own code.
      await store.ready().catch((err: unknown) => {
        throw err instanceof StoreError ? notReady(err) : err;
      });
      return { status: 200, body: { status: 'ready' } };
    },
  }),

  route({
    name: 'metrics',
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    quiet: true,
    responses: {
      200: { description: 'Prometheus text format', mediaType: 'text/plain', schema: STRING },
    },
    handle: async (_, deps) => {
      const m = await deps.metrics();
      return { status: 200, text: m.text, headers: { 'content-type': m.contentType } };
    },
  }),

  route({
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
  }),

  route({
    name: 'createSession',
    method: 'POST',
    path: '/v1/sessions',
    summary: 'Create a session (200 when it already exists)',
    body: { schema: createSessionBody, default: {} },
    responses: {
      201: { description: 'created', schema: ref('CreatedSession') },
      200: { description: 'it already existed; it is unchanged', schema: ref('CreatedSession') },
    },
    errors: [409, 503, 507],
    handle: async ({ body }, { store, agentName }) => {
      const id = body.session_id ?? `session_${randomBytes(SESSION_ID_BYTES).toString('hex')}`;
      const { created, session } = await store.createSession(id, {
        userId: body.user_id ?? DEFAULT_OWNER.userId,
        appName: body.app_name ?? DEFAULT_OWNER.appName,
      });
      return { status: created ? 201 : 200, body: { agent: agentName, created, ...session } };
    },
  }),

  route({
    name: 'listSessions',
    method: 'GET',
    path: '/v1/sessions',
    summary: 'List sessions, newest first',
    description:
      'A page may hold fewer than `limit` sessions (e.g. with `user_id`); follow `next_cursor` until it is null.',
    query: listSessionsQuery,
    responses: { 200: { description: 'a page', schema: ref('SessionPage') } },
    errors: [409, 503],
    handle: async ({ query }, { store, agentName }) => {
      const page = await store.listSessions({
        limit: query.limit,
        userId: query.user_id,
        cursor: query.cursor ? decodeSessionCursor(query.cursor) : undefined,
      });
      return {
        status: 200,
        body: {
          agent: agentName,
          sessions: page.sessions,
          next_cursor: page.next ? encodeSessionCursor(page.next) : null,
        },
      };
    },
  }),

  route({
    name: 'eraseUser',
    method: 'DELETE',
    path: '/v1/sessions',
    summary: 'Delete every session of one user (privacy erasure)',
    description:
      'Deletes the sessions whose `user_id` is the one given, across every index of the store, and says how many. ' +
      'Each deletion checks the owner again, so a session that changed hands meanwhile is kept. ' +
      'A 503 may come after some were deleted: repeat the request.',
    query: eraseUserQuery,
    responses: {
      200: {
        description: 'how many sessions were deleted (0 when the user had none)',
        schema: fields({ deleted: COUNT }),
      },
    },
    errors: [503],
    handle: async ({ query }, { store }) => {
      const deleted = await store.deleteUserSessions(query.user_id);
      return { status: 200, body: { deleted } };
    },
  }),

  route({
    name: 'getSession',
    method: 'GET',
    path: '/v1/sessions/{id}',
    summary: 'A session with its event count',
    params: SESSION_PARAMS,
    responses: { 200: { description: 'the session', schema: ref('SessionWithCount') } },
    errors: [404, 409, 503],
    handle: async ({ params: { id } }, { store, agentName }) => {
      const session = await store.getSession(id);
      if (!session) throw new NotFoundError(`session ${id} does not exist`);
      return { status: 200, body: { agent: agentName, ...session } };
    },
  }),

  route({
    name: 'deleteSession',
    method: 'DELETE',
    path: '/v1/sessions/{id}',
    summary: 'Delete a session and its events',
    params: SESSION_PARAMS,
    responses: { 204: { description: 'deleted' } },
    errors: [404, 409, 503],
    handle: async ({ params: { id } }, { store }) => {
      if (!(await store.deleteSession(id))) throw new NotFoundError(`session ${id} does not exist`);
      return { status: 204 };
    },
  }),

  route({
    name: 'appendEvents',
    method: 'POST',
    path: '/v1/sessions/{id}/events',
    summary: 'Append one event or an array; creates the session when absent',
    description:
      'An event_id already stored is not stored again, so a retry is safe. ' +
      "A W3C `traceparent` header is recorded in each new event's metadata as `trace_id` and `span_id`, unless the event's own metadata names either.",
    params: SESSION_PARAMS,
    body: { schema: appendBody },
    headers: {
      traceparent: {
        description:
          'W3C Trace Context: `00-<trace id>-<span id>-<flags>`. Recorded as metadata.trace_id and metadata.span_id of each new event; an invalid value is ignored.',
        schema: { type: 'string' },
      },
    },
    responses: {
      201: { description: 'stored, or the session was created', schema: ref('AppendResult') },
      200: { description: 'every event was already stored', schema: ref('AppendResult') },
    },
    errors: [409, 503, 507],
    handle: async ({ params: { id }, body, headers }, { store, agentName }) => {
      // Stored whole or not at all: a batch the session cannot keep would be trimmed in
      // the same write, and its retry would put the trimmed events back out of order.
      if (body.length > store.maxSessionEvents) {
        throw new BadRequestError(
          `body: holds ${body.length} events, more than the ${store.maxSessionEvents} a session keeps (MEMORY_MAX_SESSION_EVENTS); send fewer at a time`,
        );
      }
      const trace = parseTraceparent(headers.traceparent);
      const events = trace ? body.map((event) => withTrace(event, trace)) : body;
      const result = await store.appendEvents(id, events, DEFAULT_OWNER);
      const stored = result.events.filter((e) => e.stored).length;
      return {
        status: stored > 0 || result.created ? 201 : 200,
        body: {
          agent: agentName,
          session_id: id,
          session_created: result.created,
          stored,
          duplicates: result.events.length - stored,
          events: result.events,
        },
      };
    },
  }),

  route({
    name: 'listEvents',
    method: 'GET',
    path: '/v1/sessions/{id}/events',
    summary: 'Events, oldest first; `limit` keeps the most recent N',
    description: '`next_cursor` pages back to older events.',
    params: SESSION_PARAMS,
    query: listEventsQuery,
    responses: { 200: { description: 'events', schema: ref('EventPage') } },
    errors: [409, 503],
    handle: async ({ params: { id }, query }, { store, agentName }) => {
      const page = await store.readEvents(id, {
        limit: query.limit,
        types: query.types,
        before: query.cursor ? decodeEventCursor(query.cursor) : undefined,
      });
      return {
        status: 200,
        body: {
          agent: agentName,
          session_id: id,
          events: page.events,
          next_cursor: page.next ? encodeEventCursor(page.next) : null,
        },
      };
    },
  }),

  route({
    name: 'context',
    method: 'GET',
    path: '/v1/sessions/{id}/context',
    summary: 'The conversation as User:/Assistant: lines, or as chat messages',
    params: SESSION_PARAMS,
    query: contextQuery,
    responses: {
      200: {
        description: '`context` (format=text) or `messages` (format=messages)',
        schema: {
          oneOf: [
            fields({ agent: AGENT, session_id: STRING, context: STRING }),
            fields({
              agent: AGENT,
              session_id: STRING,
              messages: arrayOf(fields({ role: { enum: ['user', 'assistant'] }, content: STRING })),
            }),
          ],
        },
      },
    },
    errors: [409, 503],
    handle: async ({ params: { id }, query }, { store, agentName }) => {
      const { events } = await store.readEvents(id, {
        limit: query.max_events,
        types: CONVERSATION_TYPES,
      });
      const body =
        query.format === 'messages'
          ? { agent: agentName, session_id: id, messages: contextMessages(events) }
          : { agent: agentName, session_id: id, context: contextText(events) };
      return { status: 200, body };
    },
  }),

  // KAOS agent-server shapes, so tools built for KAOS read the sidecar unchanged.
  route({
    name: 'kaosEvents',
    method: 'GET',
    path: '/memory/events',
    summary: 'KAOS-shaped events: {agent, events, total}',
    query: kaosEventsQuery,
    responses: {
      200: {
        description: 'events, oldest first',
        schema: fields({ agent: AGENT, events: arrayOf(ref('Event')), total: COUNT }),
      },
    },
    errors: [409, 503],
    handle: async ({ query }, { store, agentName }) => {
      const events = query.session_id
        ? (await store.readEvents(query.session_id, { limit: query.limit })).events
        : await recentAcrossSessions(store, query.limit);
      return { status: 200, body: { agent: agentName, events, total: events.length } };
    },
  }),

  route({
    name: 'kaosSessions',
    method: 'GET',
    path: '/memory/sessions',
    summary: 'KAOS-shaped session ids: {agent, sessions, total}',
    responses: {
      200: {
        description: 'session ids, oldest first',
        schema: fields({ agent: AGENT, sessions: arrayOf(STRING), total: COUNT }),
      },
    },
    errors: [409, 503],
    handle: async (_, { store, agentName }) => {
      const sessions = await store.sessionIds(KAOS_SESSIONS_MAX);
      return { status: 200, body: { agent: agentName, sessions, total: sessions.length } };
    },
  }),
];

/**
 * The newest `limit` events over the most recently updated sessions, oldest first,
 * read one session after another within one shared byte budget.
 */
async function recentAcrossSessions(store: MemoryStore, limit: number): Promise<MemoryEvent[]> {
  const { sessions } = await store.listSessions({ limit: KAOS_RECENT_SESSIONS });
  const events: MemoryEvent[] = [];
  let budget = store.maxReadBytes;
  for (const s of sessions) {
    if (budget <= 0) break;
    const page = await store.readEvents(s.session_id, { limit, maxBytes: budget });
    budget -= page.bytes;
    events.push(...page.events);
  }
  return events
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0))
    .slice(-limit);
}
