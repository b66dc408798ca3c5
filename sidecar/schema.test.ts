import { describe, expect, it } from 'vitest';
import {
  Invalid,
  anyValue,
  array,
  object,
  optional,
  string,
  wholeNumber,
  withDefault,
} from './schema.js';

const event = object(
  { type: string({ min: [1, 'must not be empty'], max: 8 }), content: anyValue(3) },
  true,
);
const batch = array(event, { min: [1, 'too few'], max: [2, 'too many'] });

function failure(fn: () => unknown): { path: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof Invalid) return { path: err.path, message: err.message };
    throw err;
  }
  throw new Error('expected the value to be refused');
}

describe('schema kit', () => {
  it('bounds JSON values: nesting (naming the field) and finite numbers (naming where)', () => {
    expect(event.parse({ type: 'a', content: [[[1]]] }, '')).toEqual({
      type: 'a',
      content: [[[1]]],
    });
    expect(failure(() => event.parse({ type: 'a', content: [[[[1]]]] }, ''))).toEqual({
      path: '.content',
      message: 'nests deeper than 3 levels',
    });
    expect(failure(() => event.parse({ type: 'a', content: { x: [Infinity] } }, ''))).toEqual({
      path: '.content.x[0]',
      message: 'must be a finite number',
    });
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(failure(() => event.parse({ type: 'a', content: deep }, '')).path).toBe('.content');
  });

  it('says where a nested value is wrong', () => {
    expect(failure(() => batch.parse([{ type: 'a', content: 1 }, { type: '' }], ''))).toEqual({
      path: '[1].type',
      message: 'must not be empty',
    });
    expect(failure(() => batch.parse([{ type: 'a' }], '')).path).toBe('[0].content');
    expect(failure(() => batch.parse([], '')).message).toBe('too few');
    expect(failure(() => event.parse({ type: 'a', content: 1, x: 1 }, '')).message).toBe(
      'unknown field "x"',
    );
    expect(failure(() => event.parse({ type: 'a'.repeat(9), content: 1 }, '')).message).toBe(
      'must be at most 8 characters',
    );
  });

  it('leaves out absent optional fields and fills defaults', () => {
    const query = object(
      { limit: withDefault(wholeNumber(1, 10), 5), cursor: optional(string()) },
      false,
    );
    expect(query.parse({ other: 'ignored' }, '')).toEqual({ limit: 5 });
    expect(query.parse({ limit: '7', cursor: 'c' }, '')).toEqual({ limit: 7, cursor: 'c' });
    expect(failure(() => query.parse({ limit: '11' }, '')).message).toBe('must be at most 10');
    expect(failure(() => query.parse({ limit: '1e3' }, '')).message).toBe('must be a whole number');
  });

  it('describes itself as JSON Schema', () => {
    expect(batch.json).toEqual({
      type: 'array',
      minItems: 1,
      maxItems: 2,
      items: {
        type: 'object',
        properties: {
          type: { type: 'string', minLength: 1, maxLength: 8 },
          content: { description: 'Any JSON value nesting at most 3 levels.' },
        },
        required: ['type', 'content'],
        additionalProperties: false,
      },
    });
    expect(withDefault(wholeNumber(1, 10), 5).json).toEqual({
      type: 'string',
      pattern: '^\\d{1,9}$',
      default: 5,
    });
  });
});
