// Sessions: create, list, get, delete, and erase one user's.
import { randomBytes } from 'node:crypto';
import { MemoryAdmin } from '../../memory/admin.js';
import { apiError, NotFoundError } from '../errors.js';
import { ETAG, etagHeader, parseEtags } from '../etag.js';
import { decodeSessionCursor, encodeSessionCursor } from '../cursor.js';
import { createSessionBody, eraseUserQuery, listSessionsQuery } from '../validation.js';
import { BOOLEAN, COUNT, DEFAULT_OWNER, fields, ref, route, SESSION_PARAMS } from './shapes.js';

/** `session_` and 12 hex digits, as KAOS generates them. */
const SESSION_ID_BYTES = 6;

export const SESSION_ROUTES = [
  route({
    name: 'createSession',
    method: 'POST',
    path: '/v1/sessions',
    summary: 'Create a session (200 when it already exists)',
    description:
      'With `If-None-Match: *` it is create-only: a session that exists is left as it is and ' +
      'answered 412 `precondition_failed` with its `ETag`.',
    body: { schema: createSessionBody, default: {} },
    headers: {
      'if-none-match': {
        description:
          '`*`: create only, 412 when the session exists. A list of tags: 412 when it exists at one of them.',
        schema: { type: 'string' },
      },
    },
    responses: {
      201: { description: 'created', schema: ref('CreatedSession'), headers: { ETag: ETAG } },
      200: {
        description: 'it already existed; it is unchanged',
        schema: ref('CreatedSession'),
        headers: { ETag: ETAG },
      },
    },
    errors: [409, 412, 503, 507],
    handle: async ({ body, headers }, { store, agentName }) => {
      const id = body.session_id ?? `session_${randomBytes(SESSION_ID_BYTES).toString('hex')}`;
      const { created, etag, session } = await store.createSession(id, {
        userId: body.user_id ?? DEFAULT_OWNER.userId,
        appName: body.app_name ?? DEFAULT_OWNER.appName,
      });
      // A create of an existing session writes nothing, so refusing it afterwards is exact.
      const none = parseEtags(headers['if-none-match']);
      if (!created && (none === '*' || none?.includes(etag))) {
        throw apiError('precondition_failed', `session ${id} already exists`, {
          headers: etagHeader(etag),
        });
      }
      return {
        status: created ? 201 : 200,
        body: { agent: agentName, created, ...session },
        headers: etagHeader(etag),
      };
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
      'Each deletion checks the owner again, so a session that changed hands meanwhile is kept; a session under a legal hold is kept and counted in `held`. ' +
      'An erased session id appended to later is re-created under the same user, never another. ' +
      '`complete` is false when appends kept re-creating erased sessions during the erasure: repeat it. ' +
      'A 503 may come after some were deleted: repeat the request.',
    query: eraseUserQuery,
    responses: {
      200: {
        description: 'how many sessions were deleted (0 when the user had none), and what was kept',
        schema: fields({
          deleted: COUNT,
          held: { ...COUNT, description: 'sessions of the user kept by a legal hold' },
          complete: {
            ...BOOLEAN,
            description: 'no session of the user is left but the held ones',
          },
        }),
      },
    },
    errors: [503],
    handle: async ({ query }, { store }) => {
      const erasure = await new MemoryAdmin(store).deleteUserSessions(query.user_id);
      return { status: 200, body: erasure };
    },
  }),

  route({
    name: 'getSession',
    method: 'GET',
    path: '/v1/sessions/{id}',
    summary: 'A session with its event count',
    description: '`ETag` is its tag, for `If-Match` on a later append.',
    params: SESSION_PARAMS,
    responses: {
      200: {
        description: 'the session',
        schema: ref('SessionWithCount'),
        headers: { ETag: ETAG },
      },
    },
    errors: [404, 409, 503],
    handle: async ({ params: { id } }, { store, agentName }) => {
      const found = await store.getSessionTagged(id);
      if (!found) throw new NotFoundError(`session ${id} does not exist`);
      return {
        status: 200,
        body: { agent: agentName, ...found.session },
        headers: etagHeader(found.etag),
      };
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
];
