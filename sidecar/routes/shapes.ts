// Response shapes of the route table, as plain JSON Schema, and the helpers that
// declare routes. Each object lists every field the handler sends, all of them
// always present; the suites' validator treats a listed object as closed, so a
// field sent but not described here fails a test.
import type { MemoryStore } from '../../memory/store.js';
import type { PathParam, Route, RouteSpec } from '../http.js';
import type { JsonSchema } from '../schema.js';
import type { StreamHub } from '../streams.js';
import type { MemoryV2 } from '../v2/service.js';
import { sessionId } from '../validation.js';

/** What every handler may use. */
export interface RouteDeps {
  store: MemoryStore;
  agentName: string;
  metrics: () => Promise<{ contentType: string; text: string }>;
  /** Told of each acknowledged append, when automatic folds are on. */
  summarizer?: { notice(sessionId: string): void } | undefined;
  /** Live tails of sessions (server-sent events). */
  streams?: StreamHub | undefined;
  /** Memory v2's operations (routes/v2.ts). */
  memoryV2: MemoryV2;
  /** The token counter of /context?max_tokens (sidecar/token-counts.ts). */
  countTokens: (text: string) => number;
}

/** Declares one route; the types of its handler's input come from its schemas. */
export function route<
  P = Record<string, never>,
  Q = undefined,
  B = undefined,
  S extends number = never,
>(spec: RouteSpec<RouteDeps, P, Q, B, S>): Route<RouteDeps> {
  return spec as unknown as Route<RouteDeps>;
}

/** An object whose listed fields are all present. */
export function fields(properties: Record<string, JsonSchema>): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties };
}
export const arrayOf = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
/** A named shape of components.schemas (each route module exports its own; index.ts merges them). */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

export const STRING = { type: 'string' };
export const BOOLEAN = { type: 'boolean' };
export const COUNT = { type: 'integer', minimum: 0 };
export const TIME = {
  type: 'string',
  description: 'ISO-8601 UTC with offset, e.g. 2026-02-17T10:00:00.123456+00:00',
};
export const NEXT_CURSOR = {
  type: ['string', 'null'],
  description: 'Pass it as `cursor` for the next page; null on the last page.',
};
export const AGENT = { type: 'string', description: "The agent's name (AGENT_NAME)." };
export const SESSION_FIELDS = {
  session_id: STRING,
  user_id: STRING,
  app_name: STRING,
  created_at: TIME,
  updated_at: TIME,
};

export const SESSION_PARAMS: { id: PathParam<string> } = {
  id: { schema: sessionId, label: 'session id' },
};

/** Owner of a session created by an append, or by a create that names none (KAOS's defaults). */
export const DEFAULT_OWNER = { userId: 'user', appName: 'agent' };

/** The shapes shared by several route modules, as components.schemas. */
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
    events: arrayOf(
      fields({
        event_id: STRING,
        stored: BOOLEAN,
        seq: {
          type: ['integer', 'null'],
          minimum: 1,
          description:
            'metadata.seq the event is stored with (null for an event another writer stored without one)',
        },
      }),
    ),
  }),
} satisfies Record<string, JsonSchema>;
