// KAOS agent-server shapes, so tools built for KAOS read the sidecar unchanged.
import type { MemoryEvent } from '../../memory/events.js';
import type { MemoryStore } from '../../memory/store.js';
import { kaosEventsQuery } from '../validation.js';
import { AGENT, arrayOf, COUNT, fields, ref, route, STRING } from './shapes.js';

/** GET /memory/sessions: at most this many ids, the most recently updated. */
const KAOS_SESSIONS_MAX = 10_000;
/** GET /memory/events without a session: the newest events of this many recent sessions. */
const KAOS_RECENT_SESSIONS = 20;

export const KAOS_ROUTES = [
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
