// A session's digests: the events of type `summary` it holds (sidecar/summarizer.ts
// writes them; an agent's own come with POST once the store takes If-Match).
import { NotFoundError } from '../errors.js';
import { SUMMARY } from '../window.js';
import { AGENT, arrayOf, fields, route, SESSION_PARAMS, STRING } from './shapes.js';

export const SUMMARY_ROUTES = [
  route({
    name: 'listSummaries',
    method: 'GET',
    path: '/v1/sessions/{id}/summaries',
    summary: "The session's digests, oldest first",
    description:
      'Each is an event of type `summary`: its content is the summary, its metadata names its ' +
      '`version` and the range of events it covers (`from_event_id`, `to_event_id`). The newest is ' +
      'where `/context?max_tokens` starts. Raw events are never deleted by folding.',
    params: SESSION_PARAMS,
    responses: {
      200: {
        description: 'the digests',
        schema: fields({
          agent: AGENT,
          session_id: STRING,
          summaries: arrayOf({ $ref: '#/components/schemas/Event' }),
        }),
      },
    },
    errors: [404, 409, 503],
    handle: async ({ params: { id } }, { store, agentName }) => {
      const [session, page] = await Promise.all([
        store.getSession(id),
        store.readEvents(id, { types: [SUMMARY] }),
      ]);
      if (!session) throw new NotFoundError(`no session ${id}`);
      return { status: 200, body: { agent: agentName, session_id: id, summaries: page.events } };
    },
  }),
];
