// A session's digests: the events of type `summary` it holds, written by automatic
// folds (sidecar/summarizer.ts) or by an agent that brings its own (POST, with If-Match).
import { apiError, BadRequestError, NotFoundError } from '../errors.js';
import { ETAG, etagHeader, parseEtags } from '../etag.js';
import { summaryBody } from '../validation.js';
import { SUMMARY } from '../window.js';
import { StoreError } from '../../memory/errors.js';
import type { RangeRefusal } from '../../memory/store.js';
import { AGENT, arrayOf, fields, ref, route, SESSION_PARAMS, STRING } from './shapes.js';

const RANGE_REFUSALS: Record<RangeRefusal, (from: string, to: string) => string> = {
  from: (from) => `body.from_event_id: ${from} is not an event of the session`,
  to: (_, to) => `body.to_event_id: ${to} is not an event of the session`,
  order: (from, to) => `body.from_event_id: ${from} comes after to_event_id ${to}`,
};

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

  route({
    name: 'appendSummary',
    method: 'POST',
    path: '/v1/sessions/{id}/summaries',
    summary: "Append the agent's own digest of a range of the session's events",
    description:
      'Stores an event of type `summary` whose content is `summary` and whose metadata is ' +
      '`{from_event_id, to_event_id, source: "agent", version, seq}`: `version` is the next digest ' +
      "version of the session (automatic folds count in the same sequence). `If-Match` is required: the session's " +
      '`ETag` as the agent read the events it summarised, so a digest is never written over events it has not seen ' +
      '(412 with the current `ETag` when the session changed; 428 without the header). ' +
      'Both events must be stored, `from_event_id` not after `to_event_id` (400 otherwise). Raw events are never deleted.',
    params: SESSION_PARAMS,
    body: { schema: summaryBody },
    headers: {
      'if-match': {
        description:
          "Required: the session's tag (`ETag` of the read the summary was made from). `*` is not enough.",
        schema: { type: 'string' },
      },
    },
    responses: {
      201: {
        description: 'the digest, as stored',
        schema: fields({ agent: AGENT, session_id: STRING, summary: ref('Event') }),
        headers: { ETag: ETAG },
      },
    },
    errors: [404, 409, 412, 428, 503, 507],
    handle: async ({ params: { id }, body, headers }, { store, agentName, streams }) => {
      const ifMatch = parseEtags(headers['if-match']);
      if (ifMatch === undefined || ifMatch === '*' || ifMatch.length === 0) {
        throw apiError(
          'precondition_required',
          'If-Match must name the session tag (ETag) the summarised events were read at',
        );
      }
      let result;
      try {
        result = await store.appendDigest(
          id,
          {
            summary: body.summary,
            fromEventId: body.from_event_id,
            toEventId: body.to_event_id,
            metadata: { source: 'agent' },
          },
          { ifMatch },
        );
      } catch (err) {
        // No tag at all: the session does not exist.
        if (err instanceof StoreError && err.kind === 'precondition' && err.etag === undefined) {
          throw new NotFoundError(`session ${id} does not exist`);
        }
        throw err;
      }
      if (!result.stored) {
        throw new BadRequestError(
          RANGE_REFUSALS[result.range](body.from_event_id, body.to_event_id),
        );
      }
      streams?.notify(id);
      return {
        status: 201,
        body: { agent: agentName, session_id: id, summary: result.event },
        headers: etagHeader(result.etag),
      };
    },
  }),
];
