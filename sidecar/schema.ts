// A small schema kit for the sidecar's inputs: each schema checks a value and
// describes itself as JSON Schema, so the OpenAPI document is generated from the
// same objects the server validates with. Not zod: importing zod alone held
// about 3 MiB of the sidecar's heap (docs/decisions.md), and these inputs need
// only strings, whole numbers, arrays and closed objects.
import { JsonNumber } from '../memory/json.js';

export type JsonSchema = Record<string, unknown>;

/** A value that does not fit; `path` is where, e.g. `[2].event_type`. */
export class Invalid extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Schema<T> {
  readonly json: JsonSchema;
  /** Set by `optional` and `withDefault`: the field may be left out. */
  readonly optional?: boolean;
  parse(value: unknown, path: string): T;
}

export type Output<S> = S extends Schema<infer T> ? T : never;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface StringRules {
  min?: [number, string];
  max?: number;
  pattern?: [RegExp, string];
}

export function string(rules: StringRules = {}): Schema<string> {
  const json: JsonSchema = { type: 'string' };
  if (rules.min) json.minLength = rules.min[0];
  if (rules.max !== undefined) json.maxLength = rules.max;
  if (rules.pattern) json.pattern = rules.pattern[0].source;
  return {
    json,
    parse(value, path) {
      if (value === undefined) throw new Invalid(path, 'is required');
      if (typeof value !== 'string') throw new Invalid(path, 'must be a string');
      if (rules.min && value.length < rules.min[0]) throw new Invalid(path, rules.min[1]);
      if (rules.max !== undefined && value.length > rules.max) {
        throw new Invalid(path, `must be at most ${rules.max} characters`);
      }
      if (rules.pattern && !rules.pattern[0].test(value)) throw new Invalid(path, rules.pattern[1]);
      return value;
    },
  };
}

/** A whole number given as a query string, within bounds. */
export function wholeNumber(min: number, max: number): Schema<number> {
  const digits = /^\d{1,9}$/;
  return {
    json: { type: 'string', pattern: digits.source },
    parse(value, path) {
      if (typeof value !== 'string' || !digits.test(value)) {
        throw new Invalid(path, 'must be a whole number');
      }
      const n = Number(value);
      if (n < min) throw new Invalid(path, `must be at least ${min}`);
      if (n > max) throw new Invalid(path, `must be at most ${max}`);
      return n;
    },
  };
}

export function oneOf<const V extends string>(values: readonly V[], message: string): Schema<V> {
  return {
    json: { type: 'string', enum: values },
    parse(value, path) {
      if (!values.includes(value as V)) throw new Invalid(path, message);
      return value as V;
    },
  };
}

/**
 * Any JSON value, but present, nesting at most `maxDepth` arrays and objects and
 * holding only finite numbers (JSON.parse reads 1e400 as Infinity, which is not
 * JSON and which no reader could store back).
 */
export function anyValue(maxDepth: number): Schema<unknown> {
  return {
    json: { description: `Any JSON value nesting at most ${maxDepth} levels.` },
    parse(value, path) {
      if (value === undefined) throw new Invalid(path, 'is required');
      checkJson(value, path, path, maxDepth, maxDepth);
      return value;
    },
  };
}

/** A JSON object with any values, under the same rules as {@link anyValue}. */
export function record(maxDepth: number): Schema<Record<string, unknown>> {
  return {
    json: { type: 'object', description: `Nesting at most ${maxDepth} levels.` },
    parse(value, path) {
      if (!isPlainObject(value)) throw new Invalid(path, 'must be an object');
      checkJson(value, path, path, maxDepth, maxDepth);
      return value;
    },
  };
}

/**
 * Throws when `value` nests deeper than `max` levels (naming the field) or holds
 * a number that is not finite (naming where).
 */
function checkJson(value: unknown, field: string, path: string, left: number, max: number): void {
  if (value instanceof JsonNumber) return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Invalid(path, 'must be a finite number');
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (left <= 0) throw new Invalid(field, `nests deeper than ${max} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      checkJson(value[i], field, `${path}[${i}]`, left - 1, max);
  } else {
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      checkJson(child, field, `${path}.${key}`, left - 1, max);
    }
  }
}

export function array<T>(
  items: Schema<T>,
  bounds: { min: [number, string]; max: [number, string] },
): Schema<T[]> {
  return {
    json: { type: 'array', items: items.json, minItems: bounds.min[0], maxItems: bounds.max[0] },
    parse(value, path) {
      if (!Array.isArray(value)) throw new Invalid(path, 'must be an array');
      if (value.length < bounds.min[0]) throw new Invalid(path, bounds.min[1]);
      if (value.length > bounds.max[0]) throw new Invalid(path, bounds.max[1]);
      return value.map((item, i) => items.parse(item, `${path}[${i}]`));
    },
  };
}

export function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  return {
    json: schema.json,
    optional: true,
    parse: (value, path) => (value === undefined ? undefined : schema.parse(value, path)),
  };
}

export function withDefault<T>(schema: Schema<T>, fallback: T): Schema<T> {
  return {
    json: { ...schema.json, default: fallback },
    optional: true,
    parse: (value, path) => (value === undefined ? fallback : schema.parse(value, path)),
  };
}

/** Applies `map` to a value the schema accepted; the JSON Schema stays the input's. */
export function mapped<T, U>(schema: Schema<T>, map: (value: T, path: string) => U): Schema<U> {
  return { json: schema.json, parse: (value, path) => map(schema.parse(value, path), path) };
}

/** One item or an array of them, given to the caller as an array either way. */
export function oneOrArray<T>(item: Schema<T>, items: Schema<T[]>, missing: string): Schema<T[]> {
  return {
    json: { oneOf: [item.json, items.json] },
    parse(value, path) {
      if (Array.isArray(value)) return items.parse(value, path);
      if (value === undefined) throw new Invalid(path, missing);
      return [item.parse(value, path)];
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
export type ObjectOf<S extends Shape> = { [K in keyof S]: Output<S[K]> };

export interface ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly shape: S;
}

/**
 * An object with these fields. `closed`: any other field is an error (bodies);
 * otherwise other fields are ignored (query strings).
 */
export function object<S extends Shape>(shape: S, closed: boolean): ObjectSchema<S> {
  const required = Object.keys(shape).filter((k) => !shape[k]?.optional);
  const properties = Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.json]));
  return {
    shape,
    json: {
      type: 'object',
      properties,
      ...(required.length ? { required } : {}),
      ...(closed ? { additionalProperties: false } : {}),
    },
    parse(value, path) {
      if (!isPlainObject(value)) throw new Invalid(path, 'must be an object');
      if (closed) {
        const extra = Object.keys(value).find((k) => !Object.hasOwn(shape, k));
        if (extra !== undefined) throw new Invalid(path, `unknown field "${extra}"`);
      }
      const out: Record<string, unknown> = {};
      for (const key in shape) {
        const parsed = shape[key]?.parse(value[key], `${path}.${key}`);
        if (parsed !== undefined) out[key] = parsed;
      }
      return out as ObjectOf<S>;
    },
  };
}
