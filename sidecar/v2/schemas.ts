// The memory v2 request bodies, checked as upstream KAOS's pydantic models read
// them (kaos_memory/contract.py): unknown fields are ignored, null stands for an
// unset optional field, and an identity that is empty or blank is unset. What
// they do not allow (a string where a number goes) is a 400 naming the field.
import { JsonNumber } from '../../memory/json.js';
import { sessionId } from '../validation.js';
import { Invalid, array, object, oneOf, string, type ObjectOf, type Schema } from '../schema.js';

export const SCOPE_LEVELS = ['session', 'agent', 'user', 'group'] as const;
export type ScopeLevel = (typeof SCOPE_LEVELS)[number];

/** Turns in one write: a batch is stored whole, so it must fit the session (checked again there). */
const MAX_TURNS = 1000;
const PRINCIPAL_MAX = 256;
const AGENT_ID_MAX = 512;
const ROLE_MAX = 64;
const QUERY_MAX = 16_384;
const TOP_K_MAX = 1000;
const BUDGET_MAX = 10_000_000;

/** `value` unless it is null (pydantic's None); the field is then unset. */
function nullable<T>(schema: Schema<T>): Schema<T | undefined> {
  return {
    json: { anyOf: [schema.json, { type: 'null' }] },
    optional: true,
    parse: (value, path) =>
      value === undefined || value === null ? undefined : schema.parse(value, path),
  };
}

/** A default for an absent field (pydantic applies it only when the field is missing). */
function fallback<T>(schema: Schema<T>, value: T): Schema<T> {
  return {
    json: { ...schema.json, default: value },
    optional: true,
    parse: (input, path) => (input === undefined ? value : schema.parse(input, path)),
  };
}

function boolean(): Schema<boolean> {
  return {
    json: { type: 'boolean' },
    parse(value, path) {
      if (typeof value !== 'boolean') throw new Invalid(path, 'must be true or false');
      return value;
    },
  };
}

function integer(min: number, max: number): Schema<number> {
  return {
    json: { type: 'integer', minimum: min, maximum: max },
    parse(input, path) {
      // 10.0 is read as a JsonNumber (memory/json.ts); pydantic takes a whole float as an int.
      const value = input instanceof JsonNumber ? Number(input) : input;
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new Invalid(path, 'must be a whole number');
      }
      if (value < min) throw new Invalid(path, `must be at least ${min}`);
      if (value > max) throw new Invalid(path, `must be at most ${max}`);
      return value;
    },
  };
}

const NO_CONTROLS: [RegExp, string] = [
  // eslint-disable-next-line no-control-regex
  /^[^\u0000-\u001f\u007f]*$/,
  'must not contain control characters',
];

/** An identity field: blank means unset, as upstream's `_normalise` has it. */
function identity(inner: Schema<string>): Schema<string | undefined> {
  const blankOk = string({ max: inner.json.maxLength as number | undefined });
  return {
    json: { anyOf: [inner.json, { type: 'null' }] },
    optional: true,
    parse(value, path) {
      if (value === undefined || value === null) return undefined;
      if (blankOk.parse(value, path).trim() === '') return undefined;
      return inner.parse(value, path);
    },
  };
}

const principal = identity(string({ max: PRINCIPAL_MAX, pattern: NO_CONTROLS }));
const agentClientId = identity(string({ max: AGENT_ID_MAX, pattern: NO_CONTROLS }));
const session = identity(sessionId);

export const scopeBody = object(
  {
    level: oneOf(SCOPE_LEVELS, `must be one of ${SCOPE_LEVELS.join(', ')}`),
    principal,
    agent_client_id: agentClientId,
    session_id: session,
    user_scoping_required: fallback(boolean(), false),
  },
  false,
);
export type Scope = ObjectOf<typeof scopeBody.shape>;

export const attributionBody = object(
  { principal, agent_client_id: agentClientId, session_id: session },
  false,
);
export type Attribution = ObjectOf<typeof attributionBody.shape>;

const role = string({ min: [1, 'must not be empty'], max: ROLE_MAX, pattern: NO_CONTROLS });
const turn = object({ role, content: string() }, false);
export type Turn = ObjectOf<typeof turn.shape>;

/** Upstream's `failure_mode`: any string; only `strict` changes anything. */
const failureMode = nullable(string({ max: 32 }));

const writeFields = object(
  {
    attribution: attributionBody,
    turns: fallback(
      array(turn, {
        min: [0, ''],
        max: [MAX_TURNS, `must hold at most ${MAX_TURNS} turns`],
      }),
      [],
    ),
    role: nullable(role),
    content: nullable(string()),
    infer: fallback(boolean(), true),
    failure_mode: failureMode,
  },
  false,
);

export interface WriteRequest {
  attribution: Attribution;
  turns: Turn[];
  infer: boolean;
  failure_mode: string | undefined;
}

/** A write: `role` and `content` together are one more turn, before `turns` (upstream's order). */
export const writeBody: Schema<WriteRequest> = {
  json: writeFields.json,
  parse(value, path) {
    const w = writeFields.parse(value, path);
    const turns =
      w.role !== undefined && w.content !== undefined
        ? [{ role: w.role, content: w.content }, ...w.turns]
        : w.turns;
    if (turns.length === 0) {
      throw new Invalid(`${path}.turns`, 'a write needs turns[] or a role/content pair');
    }
    if (turns.length > MAX_TURNS) {
      throw new Invalid(`${path}.turns`, `must hold at most ${MAX_TURNS} turns`);
    }
    return { attribution: w.attribution, turns, infer: w.infer, failure_mode: w.failure_mode };
  },
};

const budget = nullable(integer(0, BUDGET_MAX));

export const recallBody = object(
  {
    scope: scopeBody,
    query: string({ max: QUERY_MAX }),
    top_k: nullable(integer(0, TOP_K_MAX)),
    include_short_term: fallback(boolean(), true),
    short_term_token_budget: budget,
  },
  false,
);
export type RecallRequest = ObjectOf<typeof recallBody.shape>;

export const listBody = object(
  {
    scope: scopeBody,
    include_short_term: fallback(boolean(), true),
    short_term_token_budget: budget,
  },
  false,
);
export type ListRequest = ObjectOf<typeof listBody.shape>;

export const forgetBody = object({ scope: scopeBody, failure_mode: failureMode }, false);
export type ForgetRequest = ObjectOf<typeof forgetBody.shape>;
