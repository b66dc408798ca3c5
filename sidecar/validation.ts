// Every HTTP input is checked here, with a message that says what was wrong.
import { z } from 'zod';
import { BadRequestError } from './errors.js';

/** Letters, digits and ._~@- only: nothing that could reach outside the session's own keys. */
export const ID_PATTERN = /^[A-Za-z0-9._~@-]+$/;

const id = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(ID_PATTERN, 'may hold only letters, digits and . _ ~ @ -');

export const sessionId = id(256);
export const eventId = id(128);

const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

export const createSessionBody = z.strictObject({
  session_id: sessionId.optional(),
  user_id: text(256).optional(),
  app_name: text(256).optional(),
});

export const eventBody = z.strictObject({
  event_type: text(128).min(1, 'must not be empty'),
  content: z.unknown().refine((v) => v !== undefined, 'is required'),
  metadata: z.record(z.string(), z.unknown(), 'must be an object').optional(),
  event_id: eventId.optional(),
});

export const MAX_BATCH = 1000;

const eventBatch = z
  .array(eventBody)
  .min(1, 'must hold at least one event')
  .max(MAX_BATCH, `must hold at most ${MAX_BATCH} events`);

/** One event or an array of them (described as oneOf in the OpenAPI document). */
export const appendBody = z.union([eventBody, eventBatch]);

/** Like check(appendBody…), but with the message of the branch the input was meant for. */
export function checkAppendBody(input: unknown): z.output<typeof eventBody>[] {
  if (Array.isArray(input)) return check(eventBatch, input, 'body');
  if (input === undefined)
    throw new BadRequestError('body: an event or an array of events is required');
  return [check(eventBody, input, 'body')];
}

const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const cursorParam = z
  .string()
  .max(1024, 'is too long')
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor');

export const listSessionsQuery = z.object({
  user_id: text(256).optional(),
  limit: intParam(1, 1000).default(50),
  cursor: cursorParam.optional(),
});

export const listEventsQuery = z.object({
  types: z
    .string()
    .max(4096, 'is too long')
    .transform((v) => v.split(',').map((t) => t.trim()))
    .pipe(
      z.array(text(128).min(1, 'must not hold an empty type')).max(64, 'may name at most 64 types'),
    )
    .optional(),
  limit: intParam(1, 100_000).optional(),
  cursor: cursorParam.optional(),
});

export const contextQuery = z.object({
  max_events: intParam(1, 10_000).default(20),
  format: z.enum(['text', 'messages'], 'must be text or messages').default('text'),
});

export const kaosEventsQuery = z.object({
  session_id: sessionId.optional(),
  limit: intParam(1, 1000).default(100),
});

/** Parse or throw a 400 naming the first problem, e.g. `body[2].event_type: must not be empty`. */
export function check<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? [])
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('');
  throw new BadRequestError(`${where}${path}: ${issue?.message ?? 'is invalid'}`);
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
