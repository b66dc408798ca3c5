// A session's events: append, read, and the conversation view.
import { BadRequestError } from '../errors.js';
import { contextMessages, contextText, CONVERSATION_TYPES } from '../context.js';
import { decodeEventCursor, encodeEventCursor } from '../cursor.js';
import { parseTraceparent, withTrace } from '../trace.js';
import { appendBody, contextQuery, listEventsQuery } from '../validation.js';
import {
  AGENT,
  arrayOf,
  DEFAULT_OWNER,
  fields,
  ref,
  route,
  SESSION_PARAMS,
  STRING,
} from './shapes.js';

export const EVENT_ROUTES = [
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
];
