// Every HTTP input is checked here, with a message that says what was wrong.
// The route table (routes/) names which schema checks which input, and the
// OpenAPI document describes each input with the same schema's JSON Schema.
import { MAX_JSON_DEPTH } from '../memory/events.js';
import { BadRequestError } from './errors.js';
import {
  Invalid,
  anyValue,
  array,
  mapped,
  object,
  oneOf,
  oneOrArray,
  optional,
  record,
  string,
  wholeNumber,
  withDefault,
  type Schema,
} from './schema.js';

/** Letters, digits and ._~@- only: nothing that could reach outside the session's own keys. */
const ID_PATTERN = /^[A-Za-z0-9._~@-]+$/;
/** The contract: a session id is 1 to 256 characters. */
const SESSION_ID_MAX = 256;
const EVENT_ID_MAX = 128;
const EVENT_TYPE_MAX = 128;
/** user_id and app_name. */
const NAME_MAX = 256;
/** A hold's reason: a case or ticket reference and a line about it. */
const HOLD_REASON_MAX = 1024;
/** Events in one append. */
const MAX_BATCH = 1000;
/** Cursors are short base64url JSON; anything longer was not issued here. */
const CURSOR_MAX = 1024;
/** `types=` of reading events: characters of the whole list, and names in it. */
const TYPE_LIST_MAX = 4096;
const TYPES_MAX = 64;

const id = (max: number) =>
  string({
    min: [1, 'must not be empty'],
    max,
    pattern: [ID_PATTERN, 'may hold only letters, digits and . _ ~ @ -'],
  });

export const sessionId = id(SESSION_ID_MAX);
const eventId = id(EVENT_ID_MAX);
/** An event id given in a header or query (Last-Event-ID). */
export const eventIdParam = eventId;

/** Whether `value` is an event id the API accepts (so a client can send it back as Last-Event-ID). */
export function isApiEventId(value: string): boolean {
  return value.length <= EVENT_ID_MAX && ID_PATTERN.test(value);
}

const NO_CONTROLS: [RegExp, string] = [
  // eslint-disable-next-line no-control-regex
  /^[^\u0000-\u001f\u007f]*$/,
  'must not contain control characters',
];
const text = (max: number) => string({ max, pattern: NO_CONTROLS });
const nonEmptyText = (max: number, empty = 'must not be empty') =>
  string({ min: [1, empty], max, pattern: NO_CONTROLS });

export const createSessionBody = object(
  {
    session_id: optional(sessionId),
    user_id: optional(text(NAME_MAX)),
    app_name: optional(text(NAME_MAX)),
  },
  true,
);

const eventBody = object(
  {
    event_type: nonEmptyText(EVENT_TYPE_MAX),
    content: anyValue(MAX_JSON_DEPTH),
    metadata: optional(record(MAX_JSON_DEPTH)),
    event_id: optional(eventId),
  },
  true,
);

/** One event or an array of them; the message is that of the form the input was meant to be. */
export const appendBody = oneOrArray(
  eventBody,
  array(eventBody, {
    min: [1, 'must hold at least one event'],
    max: [MAX_BATCH, `must hold at most ${MAX_BATCH} events`],
  }),
  'an event or an array of events is required',
);

/** An agent's own digest of a range of its session's events (POST …/summaries). */
export const summaryBody = object(
  {
    summary: string({ min: [1, 'must not be empty'] }),
    from_event_id: eventId,
    to_event_id: eventId,
  },
  true,
);

const cursorParam = string({ max: CURSOR_MAX, pattern: [/^[A-Za-z0-9_-]+$/, 'is not a cursor'] });

export const listSessionsQuery = object(
  {
    user_id: optional(text(NAME_MAX)),
    limit: withDefault(wholeNumber(1, 1000), 50),
    cursor: optional(cursorParam),
  },
  false,
);

export const holdBody = object(
  { reason: nonEmptyText(HOLD_REASON_MAX, 'must not be empty: say why the session is held') },
  false,
);

export const eraseUserQuery = object(
  { user_id: nonEmptyText(NAME_MAX, 'must not be empty: name the user whose sessions to delete') },
  false,
);

const eventType = nonEmptyText(EVENT_TYPE_MAX, 'must not hold an empty type');
const typeList = mapped(string({ max: TYPE_LIST_MAX }), (value, path) => {
  const types = value.split(',').map((t) => t.trim());
  if (types.length > TYPES_MAX) throw new Invalid(path, `may name at most ${TYPES_MAX} types`);
  return types.map((t, i) => eventType.parse(t, `${path}[${i}]`));
});

export const listEventsQuery = object(
  {
    types: optional(typeList),
    limit: optional(wholeNumber(1, 100_000)),
    cursor: optional(cursorParam),
  },
  false,
);

/** The schema with a description in the OpenAPI document. */
function described<T>(schema: Schema<T>, description: string): Schema<T> {
  return { ...schema, json: { ...schema.json, description } };
}

/** The conversation view's events without `max_tokens`. */
export const CONTEXT_MAX_EVENTS = 20;

export const contextQuery = object(
  {
    max_events: optional(
      described(
        wholeNumber(1, 10_000),
        `The newest N conversation events (default ${CONTEXT_MAX_EVENTS}); with max_tokens, a cap beside the budget.`,
      ),
    ),
    max_tokens: optional(
      described(
        wholeNumber(1, 10_000_000),
        'The newest events that fit N tokens, from the newest digest, pinned events kept, tool calls never split from their results.',
      ),
    ),
    format: withDefault(oneOf(['text', 'messages'], 'must be text or messages'), 'text'),
  },
  false,
);

export const kaosEventsQuery = object(
  {
    session_id: optional(sessionId),
    limit: withDefault(wholeNumber(1, 1000), 100),
  },
  false,
);

/** Parse or throw a 400 naming the first problem, e.g. `body[2].event_type: must not be empty`. */
export function check<T>(schema: Schema<T>, input: unknown, where: string): T {
  try {
    return schema.parse(input, '');
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    throw new BadRequestError(`${where}${err.path}: ${err.message}`);
  }
}

/**
 * Query parameters as an object with no prototype, so a parameter named like one of
 * Object's members (`constructor`, `__proto__`) is a parameter like any other; a
 * repeated parameter is an error, not a guess.
 */
export function queryObject(params: URLSearchParams): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of params) {
    if (Object.hasOwn(out, k)) {
      throw new BadRequestError(`query parameter ${k} is given more than once`);
    }
    out[k] = v;
  }
  return out;
}
