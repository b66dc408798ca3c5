// Routes: request → validated input → one store call → reply.
import { contextMessages, contextText, CONVERSATION_TYPES } from './context.js';
import {
  decodeEventCursor,
  decodeSessionCursor,
  encodeEventCursor,
  encodeSessionCursor,
} from './cursor.js';
import { NotFoundError } from './errors.js';
import { Router, type Reply, type Request } from './http.js';
import { openapi } from './openapi.js';
import type { MemoryStore } from '../memory/store.js';
import {
  check,
  checkAppendBody,
  contextQuery,
  createSessionBody,
  kaosEventsQuery,
  listEventsQuery,
  listSessionsQuery,
  queryObject,
  sessionId,
} from './validation.js';
import type { MemoryEvent } from '../memory/events.js';
import { randomBytes } from 'node:crypto';

export interface ApiDeps {
  store: MemoryStore;
  agentName: string;
  metrics: () => Promise<{ contentType: string; text: string }>;
}

const DEFAULT_OWNER = { userId: 'user', appName: 'agent' };

function pathId(req: Request): string {
  return check(sessionId, req.params.id, 'session id');
}

function newSessionId(): string {
  return `session_${randomBytes(6).toString('hex')}`;
}

export function buildRouter(deps: ApiDeps): Router {
  const { store, agentName } = deps;
  const r = new Router();

  r.add('GET', '/healthz', () => ({ status: 200, body: { status: 'ok' } }));
  r.add('GET', '/readyz', async () => {
    await store.ready();
    return { status: 200, body: { status: 'ready' } };
  });
  r.add('GET', '/metrics', async () => {
    const m = await deps.metrics();
    return { status: 200, text: m.text, headers: { 'content-type': m.contentType } };
  });
  r.add('GET', '/openapi.json', () => ({ status: 200, body: openapi }));

  r.add('POST', '/v1/sessions', async (req) => {
    const body = check(createSessionBody, (await req.json()) ?? {}, 'body');
    const id = body.session_id ?? newSessionId();
    const { created, session } = await store.createSession(id, {
      userId: body.user_id ?? DEFAULT_OWNER.userId,
      appName: body.app_name ?? DEFAULT_OWNER.appName,
    });
    return { status: created ? 201 : 200, body: { agent: agentName, created, ...session } };
  });

  r.add('GET', '/v1/sessions', async (req) => {
    const q = check(listSessionsQuery, queryObject(req.query), 'query');
    const page = await store.listSessions({
      limit: q.limit,
      userId: q.user_id,
      cursor: q.cursor ? decodeSessionCursor(q.cursor) : undefined,
    });
    return {
      status: 200,
      body: {
        agent: agentName,
        sessions: page.sessions,
        next_cursor: page.next ? encodeSessionCursor(page.next) : null,
      },
    };
  });

  r.add('GET', '/v1/sessions/{id}', async (req) => {
    const id = pathId(req);
    const session = await store.getSession(id);
    if (!session) throw new NotFoundError(`session ${id} does not exist`);
    return { status: 200, body: { agent: agentName, ...session } };
  });

  r.add('DELETE', '/v1/sessions/{id}', async (req) => {
    const id = pathId(req);
    if (!(await store.deleteSession(id))) throw new NotFoundError(`session ${id} does not exist`);
    return { status: 204 };
  });

  r.add('POST', '/v1/sessions/{id}/events', async (req) => {
    const id = pathId(req);
    const events = checkAppendBody(await req.json());
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
  });

  r.add('GET', '/v1/sessions/{id}/events', async (req) => {
    const id = pathId(req);
    const q = check(listEventsQuery, queryObject(req.query), 'query');
    const page = await store.readEvents(id, {
      limit: q.limit,
      types: q.types,
      before: q.cursor ? decodeEventCursor(q.cursor) : undefined,
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
  });

  r.add('GET', '/v1/sessions/{id}/context', async (req) => {
    const id = pathId(req);
    const q = check(contextQuery, queryObject(req.query), 'query');
    const { events } = await store.readEvents(id, {
      limit: q.max_events,
      types: CONVERSATION_TYPES,
    });
    const body =
      q.format === 'messages'
        ? { agent: agentName, session_id: id, messages: contextMessages(events) }
        : { agent: agentName, session_id: id, context: contextText(events) };
    return { status: 200, body };
  });

  // KAOS agent-server shapes, so tools built for KAOS read the sidecar unchanged.
  r.add('GET', '/memory/events', async (req) => {
    const q = check(kaosEventsQuery, queryObject(req.query), 'query');
    const events = q.session_id
      ? (await store.readEvents(q.session_id, { limit: q.limit })).events
      : await recentAcrossSessions(store, q.limit);
    return { status: 200, body: { agent: agentName, events, total: events.length } };
  });

  r.add('GET', '/memory/sessions', async () => {
    const sessions = await store.sessionIds(10_000);
    return { status: 200, body: { agent: agentName, sessions, total: sessions.length } };
  });

  return r;
}

/** The newest `limit` events over the 20 most recently updated sessions, oldest first. */
async function recentAcrossSessions(store: MemoryStore, limit: number): Promise<MemoryEvent[]> {
  const { sessions } = await store.listSessions({ limit: 20 });
  const pages = await Promise.all(sessions.map((s) => store.readEvents(s.session_id, { limit })));
  return pages
    .flatMap((p) => p.events)
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0))
    .slice(-limit);
}

export type { Reply };
