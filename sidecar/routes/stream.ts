// A session's live tail as server-sent events (streams.ts).
import { apiError, NotFoundError } from '../errors.js';
import { RETRY_AFTER_SECONDS } from '../http.js';
import { check } from '../validation.js';
import { eventIdParam } from '../validation.js';
import type { Reply } from '../http.js';
import { route, SESSION_PARAMS } from './shapes.js';

/** What a client waits before reconnecting, told in the stream's first line. */
const RECONNECT_MS = 1000;

export const STREAM_ROUTES = [
  route({
    name: 'streamEvents',
    method: 'GET',
    path: '/v1/sessions/{id}/events/stream',
    summary: "The session's new events, live, as server-sent events",
    description:
      'Each event is sent once, in order, as `id: <event_id>`, `event: event` and `data: <the event as JSON>`, ' +
      'whoever wrote it (this sidecar, another, or a program writing to Redis directly, seen within ' +
      '`MEMORY_STREAM_POLL_MS`). Without `Last-Event-ID` the stream starts after the newest event; with it, ' +
      'after that event, so a client that reconnects misses nothing and gets nothing twice. ' +
      "An event whose event_id another writer stored outside the API's id grammar (letters, digits and " +
      '`._~@-`) comes without `id:`, so a client that reconnects after it resumes after the event before ' +
      'it and gets it again. ' +
      '`event: reset` says the session no longer holds that event (trimmed past it) and the stream goes on ' +
      'from the oldest it holds. A `: heartbeat` comment comes every `MEMORY_STREAM_HEARTBEAT_MS`. ' +
      'At most `MEMORY_MAX_STREAMS` are open at once; past that, 429 `too_many_streams`. ' +
      'The sidecar ends its streams when it stops; clients reconnect with `Last-Event-ID`.',
    params: SESSION_PARAMS,
    headers: {
      'last-event-id': {
        description: 'The last event_id received: the stream resumes after it.',
        schema: { type: 'string' },
      },
    },
    responses: {
      200: {
        description: 'server-sent events, until the client or the sidecar ends them',
        mediaType: 'text/event-stream',
      },
    },
    errors: [404, 429, 503],
    handle: async ({ params: { id }, headers }, { store, streams }): Promise<Reply<200>> => {
      const header = headers['last-event-id'];
      let last = header === undefined ? undefined : check(eventIdParam, header, 'Last-Event-ID');
      if (!streams || streams.open >= streams.max) {
        throw apiError(
          'too_many_streams',
          `${streams?.max ?? 0} streams are open already (MEMORY_MAX_STREAMS)`,
          { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
        );
      }
      const [session, newest] = await Promise.all([
        store.getSession(id),
        last === undefined ? store.readEvents(id, { limit: 1 }) : undefined,
      ]);
      if (!session) throw new NotFoundError(`no session ${id}`);
      last ??= newest?.events.at(-1)?.event_id;
      return {
        status: 200,
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          'x-accel-buffering': 'no',
        },
        stream: (res) => {
          res.write(`retry: ${RECONNECT_MS}\n\n`);
          try {
            streams.add(id, res, last);
          } catch {
            res.end();
          }
        },
      };
    },
  }),
];
