// Every HTTP input is checked here, with a message that says what was wrong.
import { BadRequestError } from './errors.js';
import {
  Invalid,
  anyValue,
  array,
  mapped,
  object,
  oneOf,
  optional,
  record,
  string,
  wholeNumber,
  withDefault,
  type JsonSchema,
  type Output,
  type Schema,
} from './schema.js';

/** Letters, digits and ._~@- only: nothing that could reach outside the session's own keys. */
export const ID_PATTERN = /^[A-Za-z0-9._~@-]+$/;

const id = (max: number) =>
  string({
    min: [1, 'must not be empty'],
    max,
    pattern: [ID_PATTERN, 'may hold only letters, digits and . _ ~ @ -'],
  });

export const sessionId = id(256);
export const eventId = id(128);

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
    user_id: optional(text(256)),
    app_name: optional(text(256)),
  },
  true,
);

export const eventBody = object(
  {
    event_type: nonEmptyText(128),
    content: anyValue(),
    metadata: optional(record()),
    event_id: optional(eventId),
  },
  true,
);

export const MAX_BATCH = 1000;

const eventBatch = array(eventBody, {
  min: [1, 'must hold at least one event'],
  max: [MAX_BATCH, `must hold at most ${MAX_BATCH} events`],
});

/** One event or an array of them, as the OpenAPI document describes the body. */
export const appendBody: JsonSchema = { oneOf: [eventBody.json, eventBatch.json] };

/** One event or an array, with the message of the form the input was meant to be. */
export function checkAppendBody(input: unknown): Output<typeof eventBody>[] {
  if (Array.isArray(input)) return check(eventBatch, input, 'body');
  if (input === undefined)
    throw new BadRequestError('body: an event or an array of events is required');
  return [check(eventBody, input, 'body')];
}

const cursorParam = string({ max: 1024, pattern: [/^[A-Za-z0-9_-]+$/, 'is not a cursor'] });

export const listSessionsQuery = object(
  {
    user_id: optional(text(256)),
    limit: withDefault(wholeNumber(1, 1000), 50),
    cursor: optional(cursorParam),
  },
  false,
);

const eventType = nonEmptyText(128, 'must not hold an empty type');
const typeList = mapped(string({ max: 4096 }), (value, path) => {
  const types = value.split(',').map((t) => t.trim());
  if (types.length > 64) throw new Invalid(path, 'may name at most 64 types');
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

export const contextQuery = object(
  {
    max_events: withDefault(wholeNumber(1, 10_000), 20),
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

/** Query parameters as a plain object; a repeated parameter is an error, not a guess. */
export function queryObject(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k in out) throw new BadRequestError(`query parameter ${k} is given more than once`);
    out[k] = v;
  }
  return out;
}
