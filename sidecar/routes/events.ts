// A session's events: append, read, and the conversation view.
import { BadRequestError } from '../errors.js';
import { ETAG, ETAG_IF_EXISTS, etagHeader, IF_MATCH, parseEtags } from '../etag.js';
import {
  contextMessages,
  contextText,
  CONVERSATION_TYPES,
  lineOf,
  MESSAGE_FRAMING_TOKENS,
  messageOf,
  readWindow,
} from '../context.js';
import { decodeEventCursor, encodeEventCursor } from '../cursor.js';
import type { JsonSchema } from '../schema.js';
import { parseTraceparent, withTrace } from '../trace.js';
import { appendBody, CONTEXT_MAX_EVENTS, contextQuery, listEventsQuery } from '../validation.js';
import {
  AGENT,
  arrayOf,
  BOOLEAN,
  COUNT,
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
      'Each event stored gets `metadata.seq`, the next of the session (1, 2, 3… with no gap, assigned in Redis). ' +
      'With `If-Match`, nothing is stored unless the session exists and is at one of the tags given ' +
      '(any append changes it, one written straight to Redis included): otherwise 412 with the current `ETag`. ' +
      "A W3C `traceparent` header is recorded in each new event's metadata as `trace_id` and `span_id`, unless the event's own metadata names either.",
    params: SESSION_PARAMS,
    body: { schema: appendBody },
    headers: {
      'if-match': IF_MATCH,
      traceparent: {
        description:
          'W3C Trace Context: `00-<trace id>-<span id>-<flags>`. Recorded as metadata.trace_id and metadata.span_id of each new event; an invalid value is ignored.',
        schema: { type: 'string' },
      },
    },
    responses: {
      201: {
        description: 'stored, or the session was created',
        schema: ref('AppendResult'),
        headers: { ETag: ETAG },
      },
      200: {
        description: 'every event was already stored',
        schema: ref('AppendResult'),
        headers: { ETag: ETAG },
      },
    },
    errors: [409, 412, 503, 507],
    handle: async (
      { params: { id }, body, headers },
      { store, agentName, summarizer, streams },
    ) => {
      // Stored whole or not at all: a batch the session cannot keep would be trimmed in
      // the same write, and its retry would put the trimmed events back out of order.
      if (body.length > store.maxSessionEvents) {
        throw new BadRequestError(
          `body: holds ${body.length} events, more than the ${store.maxSessionEvents} a session keeps (MEMORY_MAX_SESSION_EVENTS); send fewer at a time`,
        );
      }
      const trace = parseTraceparent(headers.traceparent);
      const events = trace ? body.map((event) => withTrace(event, trace)) : body;
      const result = await store.appendEvents(id, events, DEFAULT_OWNER, {
        ifMatch: parseEtags(headers['if-match']),
      });
      const stored = result.events.filter((e) => e.stored).length;
      if (stored > 0) {
        summarizer?.notice(id);
        streams?.notify(id, result.appended);
      }
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
        headers: etagHeader(result.etag),
      };
    },
  }),

  route({
    name: 'listEvents',
    method: 'GET',
    path: '/v1/sessions/{id}/events',
    summary: 'Events, oldest first; `limit` keeps the most recent N',
    description:
      "`next_cursor` pages back to older events. `ETag` is the session's tag as the newest events were read (none when the session does not exist).",
    params: SESSION_PARAMS,
    query: listEventsQuery,
    responses: {
      200: { description: 'events', schema: ref('EventPage'), headers: { ETag: ETAG_IF_EXISTS } },
    },
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
        headers: etagHeader(page.etag),
      };
    },
  }),

  route({
    name: 'context',
    method: 'GET',
    path: '/v1/sessions/{id}/context',
    summary: 'The conversation as User:/Assistant: lines, or as chat messages',
    description:
      'Without `max_tokens`: the newest `max_events` user and agent turns. With `max_tokens`: ' +
      'the newest events that fit N tokens by the counter `window.counter` names, starting from ' +
      'the newest digest (a `summary` event, as a system message) and leaving out what it ' +
      'summarises; events with `metadata.pinned: true` are always kept; a tool call and its ' +
      'results (matched by `metadata.tool_call_id`, else by adjacency) are kept or dropped ' +
      'together, and a call without a result or a result without a call is left out. ' +
      '`window` says what was counted and dropped. A line costs its tokens and 1 for its line ' +
      `break; a message its content's tokens and ${MESSAGE_FRAMING_TOKENS} for its role and framing. ` +
      'When the pinned events alone take more than `max_tokens`, the answer is a 400 naming how many they take. ' +
      "`ETag` is the session's tag as its newest events were read (none when it does not exist).",
    params: SESSION_PARAMS,
    query: contextQuery,
    responses: {
      200: {
        description:
          '`context` (format=text) or `messages` (format=messages); with max_tokens, `window` too',
        headers: { ETag: ETAG_IF_EXISTS },
        schema: {
          oneOf: [
            fields({ agent: AGENT, session_id: STRING, context: STRING }),
            fields({
              agent: AGENT,
              session_id: STRING,
              messages: arrayOf(fields({ role: { enum: ['user', 'assistant'] }, content: STRING })),
            }),
            fields({ agent: AGENT, session_id: STRING, context: STRING, window: ref('Window') }),
            fields({
              agent: AGENT,
              session_id: STRING,
              messages: arrayOf(ref('WindowMessage')),
              window: ref('Window'),
            }),
          ],
        },
      },
    },
    errors: [409, 503],
    handle: async ({ params: { id }, query }, { store, agentName, countTokens }) => {
      if (query.max_tokens !== undefined) {
        const { window, report, etag } = await readWindow(store, id, {
          maxTokens: query.max_tokens,
          maxEvents: query.max_events,
          format: query.format,
          count: countTokens,
        });
        if (window.overBudget) {
          throw new BadRequestError(
            `max_tokens: ${query.max_tokens} is less than the ${window.tokens} tokens the session's pinned events take`,
          );
        }
        const body =
          query.format === 'messages'
            ? { agent: agentName, session_id: id, messages: window.events.map(messageOf) }
            : { agent: agentName, session_id: id, context: window.events.map(lineOf).join('\n') };
        return { status: 200, body: { ...body, window: report }, headers: etagHeader(etag) };
      }
      const { events, etag } = await store.readEvents(id, {
        limit: query.max_events ?? CONTEXT_MAX_EVENTS,
        types: CONVERSATION_TYPES,
      });
      const body =
        query.format === 'messages'
          ? { agent: agentName, session_id: id, messages: contextMessages(events) }
          : { agent: agentName, session_id: id, context: contextText(events) };
      return { status: 200, body, headers: etagHeader(etag) };
    },
  }),

  // KAOS agent-server shapes, so tools built for KAOS read the sidecar unchanged.
];

/** The shapes of this module, merged into components.schemas (index.ts). */
export const EVENT_SCHEMAS = {
  Window: fields({
    counter: {
      type: 'string',
      description: 'The token counter: `o200k-estimate-1` (docs/decisions.md).',
    },
    max_tokens: COUNT,
    tokens: { ...COUNT, description: 'Tokens of what the answer holds, by the counter.' },
    events: { ...COUNT, description: 'Events in the answer, the digest included.' },
    pinned: {
      ...COUNT,
      description: 'Pinned events kept (with the tool events that go with them).',
    },
    digest_event_id: {
      type: ['string', 'null'],
      description: 'The digest the window starts from; null when none was kept.',
    },
    events_read: {
      ...COUNT,
      description:
        'Stored events read to choose, newest first: only as far back as the window needed.',
    },
    dropped: fields({
      budget: {
        ...COUNT,
        description: 'Older events read and left out: past the budget or max_events.',
      },
      tool_groups: {
        ...COUNT,
        description: 'Of those, tool calls dropped whole with their results.',
      },
      unpaired: {
        ...COUNT,
        description: 'Tool calls without a result and results without a call.',
      },
      summarised: { ...COUNT, description: 'Events the digest stands for, and older digests.' },
      digest: { ...BOOLEAN, description: 'A digest did not fit beside the pinned events.' },
    }),
  }),
  WindowMessage: {
    type: 'object',
    required: ['role', 'content'],
    properties: {
      role: { enum: ['user', 'assistant', 'system', 'tool'] },
      content: STRING,
      tool_call_id: { type: 'string', description: 'On tool calls and results that name one.' },
    },
  },
} satisfies Record<string, JsonSchema>;
