// Legal holds: a held session keeps every event (no TTL, no eviction, no erasure by
// user, no delete) until the hold is lifted.
import { SessionHolds } from '../../memory/holds.js';
import { NotFoundError } from '../errors.js';
import { holdBody } from '../validation.js';
import { BOOLEAN, fields, route, SESSION_PARAMS, STRING } from './shapes.js';

const HOLD = fields({
  session_id: STRING,
  held: BOOLEAN,
  reason: STRING,
  since: { ...STRING, description: 'when the hold began (an earlier hold is kept, not restarted)' },
});

export const HOLD_ROUTES = [
  route({
    name: 'holdSession',
    method: 'PUT',
    path: '/v1/sessions/{id}/hold',
    summary: 'Put a legal hold on a session',
    description:
      'Until the hold is lifted the session has no TTL, is never evicted by the session cap, ' +
      'and neither `DELETE /v1/sessions?user_id=` nor `DELETE /v1/sessions/{id}` removes it ' +
      '(the latter answers 409 `session_held`). Appends and reads go on as before. Holding a held ' +
      'session again replaces its reason.',
    params: SESSION_PARAMS,
    body: { schema: holdBody },
    responses: { 200: { description: 'held', schema: HOLD } },
    errors: [404, 409, 503, 507],
    handle: async ({ params: { id }, body }, { store }) => {
      const hold = await new SessionHolds(store).hold(id, body.reason);
      if (!hold) throw new NotFoundError(`session ${id} does not exist`);
      return { status: 200, body: { ...hold, held: true } };
    },
  }),

  route({
    name: 'releaseSession',
    method: 'DELETE',
    path: '/v1/sessions/{id}/hold',
    summary: "Lift a session's legal hold",
    description: "The session's keys take the sliding TTL again, from now.",
    params: SESSION_PARAMS,
    responses: {
      200: {
        description: 'not held any more',
        schema: fields({
          session_id: STRING,
          held: BOOLEAN,
          released: { ...BOOLEAN, description: 'false when the session was not held' },
        }),
      },
    },
    errors: [409, 503],
    handle: async ({ params: { id } }, { store }) => {
      const released = await new SessionHolds(store).release(id);
      return { status: 200, body: { session_id: id, held: false, released } };
    },
  }),
];
