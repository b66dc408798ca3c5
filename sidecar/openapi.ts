// The API's OpenAPI 3.1 description. Request schemas are generated from the
// same schemas the server validates with (schema.ts), so the two cannot drift apart.
import type { ObjectSchema, Schema } from './schema.js';
import {
  appendBody,
  contextQuery,
  createSessionBody,
  kaosEventsQuery,
  listEventsQuery,
  listSessionsQuery,
  sessionId,
} from './validation.js';

function queryParams(s: ObjectSchema<Record<string, Schema<unknown>>>): Record<string, unknown>[] {
  return Object.entries(s.shape).map(([name, field]) => ({
    name,
    in: 'query',
    required: !field.optional,
    schema: field.json,
  }));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: unknown) => ({ content: { 'application/json': { schema: s } } });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const idParam = { name: 'id', in: 'path', required: true, schema: sessionId.json };

const standardErrors = {
  '400': error('Bad input; the message says what was wrong.'),
  '503': error('Redis is unavailable; retry after the Retry-After header.'),
};

export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'kaos-memory sidecar',
    version: '1',
    description:
      'Durable agent memory on Redis, in the KAOS RedisMemory layout. Served on 127.0.0.1:8790 inside the pod.',
  },
  paths: {
    '/healthz': {
      get: { summary: 'The process is up', responses: { '200': { description: 'up' } } },
    },
    '/readyz': {
      get: {
        summary: 'Redis answers',
        responses: { '200': { description: 'ready' }, '503': error('Redis does not answer') },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text format' } } },
    },
    '/openapi.json': {
      get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
    '/v1/sessions': {
      post: {
        summary: 'Create a session (200 when it already exists)',
        requestBody: { required: false, ...json(createSessionBody.json) },
        responses: {
          '201': { description: 'created', ...json(ref('Session')) },
          '200': { description: 'already existed', ...json(ref('Session')) },
          '413': error('Body too large'),
          ...standardErrors,
        },
      },
      get: {
        summary: 'List sessions, newest first',
        description:
          'A page may hold fewer than `limit` sessions (e.g. with `user_id`); follow `next_cursor` until it is null.',
        parameters: queryParams(listSessionsQuery),
        responses: {
          '200': { description: 'a page', ...json(ref('SessionPage')) },
          ...standardErrors,
        },
      },
    },
    '/v1/sessions/{id}': {
      get: {
        summary: 'A session with its event count',
        parameters: [idParam],
        responses: {
          '200': { description: 'the session', ...json(ref('Session')) },
          '404': error('No such session'),
          ...standardErrors,
        },
      },
      delete: {
        summary: 'Delete a session and its events',
        parameters: [idParam],
        responses: {
          '204': { description: 'deleted' },
          '404': error('No such session'),
          ...standardErrors,
        },
      },
    },
    '/v1/sessions/{id}/events': {
      post: {
        summary: 'Append one event or an array; creates the session when absent',
        description: 'An event_id already stored is not stored again, so a retry is safe.',
        parameters: [idParam],
        requestBody: { required: true, ...json(appendBody) },
        responses: {
          '201': { description: 'stored', ...json(ref('AppendResult')) },
          '200': { description: 'every event was already stored', ...json(ref('AppendResult')) },
          '413': error('Body too large'),
          ...standardErrors,
        },
      },
      get: {
        summary: 'Events, oldest first; `limit` keeps the most recent N',
        description: '`next_cursor` pages back to older events.',
        parameters: [idParam, ...queryParams(listEventsQuery)],
        responses: {
          '200': { description: 'events', ...json(ref('EventPage')) },
          ...standardErrors,
        },
      },
    },
    '/v1/sessions/{id}/context': {
      get: {
        summary: 'The conversation as User:/Assistant: lines, or as chat messages',
        parameters: [idParam, ...queryParams(contextQuery)],
        responses: { '200': { description: 'context' }, ...standardErrors },
      },
    },
    '/memory/events': {
      get: {
        summary: 'KAOS-shaped events: {agent, events, total}',
        parameters: queryParams(kaosEventsQuery),
        responses: { '200': { description: 'events' }, ...standardErrors },
      },
    },
    '/memory/sessions': {
      get: {
        summary: 'KAOS-shaped session ids: {agent, sessions, total}',
        responses: { '200': { description: 'session ids' }, ...standardErrors },
      },
    },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      Event: {
        type: 'object',
        required: ['event_id', 'timestamp', 'event_type', 'content', 'metadata'],
        properties: {
          event_id: { type: 'string' },
          timestamp: { type: 'string', description: 'ISO-8601 UTC with offset' },
          event_type: { type: 'string' },
          content: {},
          metadata: { type: 'object' },
        },
      },
      Session: {
        type: 'object',
        properties: {
          agent: { type: 'string' },
          session_id: { type: 'string' },
          user_id: { type: 'string' },
          app_name: { type: 'string' },
          created_at: { type: 'string' },
          updated_at: { type: 'string' },
          event_count: { type: 'integer' },
        },
      },
      SessionPage: {
        type: 'object',
        properties: {
          agent: { type: 'string' },
          sessions: { type: 'array', items: ref('Session') },
          next_cursor: { type: ['string', 'null'] },
        },
      },
      EventPage: {
        type: 'object',
        properties: {
          agent: { type: 'string' },
          session_id: { type: 'string' },
          events: { type: 'array', items: ref('Event') },
          next_cursor: { type: ['string', 'null'] },
        },
      },
      AppendResult: {
        type: 'object',
        properties: {
          agent: { type: 'string' },
          session_id: { type: 'string' },
          session_created: { type: 'boolean' },
          stored: { type: 'integer' },
          duplicates: { type: 'integer' },
          events: {
            type: 'array',
            items: {
              type: 'object',
              properties: { event_id: { type: 'string' }, stored: { type: 'boolean' } },
            },
          },
        },
      },
    },
  },
} as const;
