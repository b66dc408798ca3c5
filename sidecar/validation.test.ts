import { describe, expect, it } from 'vitest';
import { BadRequestError } from './errors.js';
import { appendBody, check, listEventsQuery, queryObject, sessionId } from './validation.js';

const checkAppendBody = (input: unknown) => check(appendBody, input, 'body');

describe('validation', () => {
  it.each(['a', 'session_0123abcd', 'user@example.com', 'a.b-c~d', 'x'.repeat(256)])(
    'accepts session id %s',
    (id) => {
      expect(check(sessionId, id, 'id')).toBe(id);
    },
  );

  it.each(['', '*', 'a:b', 'a b', 'tab\t', 'nl\n', 'ü', 'a/b', '..%2f', 'x'.repeat(257), '\u0000'])(
    'rejects session id %j',
    (id) => {
      expect(() => check(sessionId, id, 'session id')).toThrow(BadRequestError);
    },
  );

  it('names the field that is wrong', () => {
    expect(() =>
      checkAppendBody([
        { event_type: 'x', content: 1 },
        { event_type: '', content: 1 },
      ]),
    ).toThrow('body[1].event_type: must not be empty');
    expect(() => checkAppendBody({ event_type: 'x' })).toThrow(/content/);
    expect(() => checkAppendBody({ event_type: 'x', content: 1, colour: 'red' })).toThrow(/colour/);
    expect(() => checkAppendBody({ event_type: 'x', content: 1, metadata: [] })).toThrow(
      /metadata/,
    );
  });

  it('splits and checks types', () => {
    expect(
      check(listEventsQuery, { types: 'user_message, agent_response' }, 'query').types,
    ).toEqual(['user_message', 'agent_response']);
    expect(() => check(listEventsQuery, { types: 'a,,b' }, 'query')).toThrow(/empty type/);
    expect(() => check(listEventsQuery, { limit: '0' }, 'query')).toThrow(
      'query.limit: must be at least 1',
    );
  });

  it('takes one event or an array, and says which was meant', () => {
    expect(checkAppendBody({ event_type: 'x', content: 1 })).toEqual([
      { event_type: 'x', content: 1 },
    ]);
    expect(checkAppendBody([{ event_type: 'x', content: 1 }])).toHaveLength(1);
    expect(() => checkAppendBody(undefined)).toThrow(
      'body: an event or an array of events is required',
    );
    expect(() => checkAppendBody([])).toThrow('body: must hold at least one event');
    expect(() => checkAppendBody(null)).toThrow('body: must be an object');
  });

  it('refuses a repeated query parameter', () => {
    expect(() => queryObject(new URLSearchParams('limit=1&limit=2'))).toThrow(/more than once/);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'takes a query parameter named %s like any other (ignored when unknown)',
    (name) => {
      const query = queryObject(new URLSearchParams(`${name}=1&limit=5`));
      expect(check(listEventsQuery, query, 'query')).toEqual({ limit: 5 });
      expect(() => queryObject(new URLSearchParams(`${name}=1&${name}=2`))).toThrow(
        `query parameter ${name} is given more than once`,
      );
    },
  );
});
