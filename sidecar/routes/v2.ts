// KAOS memory v2 on loopback: the four endpoints of upstream's wire contract
// (kaos_memory/contract.py), so an agent whose MEMORY_STORE_ENDPOINT is this
// sidecar keeps its memory in the pod's Redis, in the KAOS layout.
import type { JsonSchema } from '../schema.js';
import { forgetBody, listBody, recallBody, writeBody } from '../v2/schemas.js';
import { arrayOf, BOOLEAN, fields, ref, route, STRING, TIME } from './shapes.js';

const V2_ERRORS = [403, 409, 503] as const;

const DEGRADED = {
  type: 'boolean',
  description:
    'The long-term tier (facts) failed and was left out (recall), or was not written (write, forget).',
};

export const V2_SCHEMAS = {
  MemoryFact: {
    type: 'object',
    description:
      "A long-term fact in the shape of upstream's Mem0 results: the text of an `infer: false` turn, with who wrote it.",
    required: ['id', 'memory', 'hash', 'created_at', 'updated_at', 'role', 'metadata'],
    properties: {
      id: STRING,
      memory: { type: 'string', description: 'The text.' },
      hash: { type: 'string', description: 'MD5 of the text, as Mem0 keeps it.' },
      created_at: TIME,
      updated_at: {
        ...TIME,
        description: 'When the same text by the same owners was last written.',
      },
      score: {
        type: 'number',
        description: 'BM25 relevance to the query (recall only); higher is better.',
      },
      user_id: { type: 'string', description: 'The principal it was written for.' },
      agent_id: { type: 'string', description: 'The agent that wrote it (kaos://agent/…).' },
      role: { type: 'string', description: 'The role of the turn it came from.' },
      metadata: {
        type: 'object',
        required: ['kaos_group'],
        properties: {
          kaos_group: {
            type: 'string',
            description: "The store it belongs to: the sidecar's key prefix.",
          },
          kaos_run: { type: 'string', description: 'The session it was written in.' },
        },
      },
    },
  },
  RecallResult: fields({
    facts: arrayOf(ref('MemoryFact')),
    short_term: fields({
      recent: {
        ...arrayOf({
          type: 'array',
          prefixItems: [STRING, STRING],
          minItems: 2,
          maxItems: 2,
          description: '[role, content]',
        }),
        description: "The session's newest turns within the token budget, oldest first.",
      },
    }),
    medium_term: fields({
      summary: { type: 'string', description: "The session's newest digest, or empty." },
    }),
    block: {
      type: 'string',
      description:
        'The text the runtime injects: `## Relevant memory` and one `- fact` line per fact; empty without facts.',
    },
    degraded: DEGRADED,
  }),
  WriteResult: fields({
    accepted: BOOLEAN,
    scheduled: {
      type: 'boolean',
      description: 'Always false: the sidecar runs no extraction model.',
    },
    degraded: DEGRADED,
  }),
  ForgetResult: fields({ forgotten: BOOLEAN, degraded: DEGRADED }),
} satisfies Record<string, JsonSchema>;

const SCOPE_NOTE =
  "The scope's agent_client_id, when given, must be this pod's AGENT_IDENTITY (403 forbidden_scope otherwise); " +
  'a scope without the field its level needs is a 400.';

export const V2_ROUTES = [
  route({
    name: 'memoryRecall',
    method: 'POST',
    path: '/v1/recall',
    summary: "Memory v2: the facts relevant to a query, and the session's window and digest",
    description: SCOPE_NOTE,
    body: { schema: recallBody },
    responses: { 200: { description: 'recalled', schema: ref('RecallResult') } },
    errors: V2_ERRORS,
    handle: async ({ body }, { memoryV2 }) => ({ status: 200, body: await memoryV2.recall(body) }),
  }),

  route({
    name: 'memoryList',
    method: 'POST',
    path: '/v1/list',
    summary: "Memory v2: every fact visible at a scope, and the session's window and digest",
    description: SCOPE_NOTE,
    body: { schema: listBody },
    responses: { 200: { description: 'listed', schema: ref('RecallResult') } },
    errors: V2_ERRORS,
    handle: async ({ body }, { memoryV2 }) => ({ status: 200, body: await memoryV2.list(body) }),
  }),

  route({
    name: 'memoryWrite',
    method: 'POST',
    path: '/v1/write',
    summary:
      "Memory v2: append turns to the attribution's session (and keep them as facts with infer: false)",
    description:
      "The turns are events of the session in the KAOS layout (user → user_message, assistant → agent_response, tool → tool_result, any other role → message with metadata.role). A 200 means Redis holds them. The attribution's agent_client_id, when given, must be this pod's AGENT_IDENTITY.",
    body: { schema: writeBody },
    responses: { 200: { description: 'stored', schema: ref('WriteResult') } },
    errors: [...V2_ERRORS, 507],
    handle: async ({ body }, { memoryV2 }) => ({ status: 200, body: await memoryV2.write(body) }),
  }),

  route({
    name: 'memoryForget',
    method: 'POST',
    path: '/v1/forget',
    summary: "Memory v2: erase a session, or an agent's or a user's memory",
    description:
      `${SCOPE_NOTE} A session: its events and its facts. A user: every session of that user and every fact written for them. ` +
      "An agent: every fact it wrote. Group erasure is refused (403): it would reach every agent's memory.",
    body: { schema: forgetBody },
    responses: { 200: { description: 'erased', schema: ref('ForgetResult') } },
    errors: V2_ERRORS,
    handle: async ({ body }, { memoryV2 }) => ({ status: 200, body: await memoryV2.forget(body) }),
  }),
];
