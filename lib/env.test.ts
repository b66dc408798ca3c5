import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  InvalidValue,
  intEnv,
  listEnv,
  matches,
  oneOfEnv,
  optionalEnv,
  parsedEnv,
  stringEnv,
} from './env.js';

const fails = (read: () => unknown, message: string) => {
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(new ConfigError(message));
};

describe('the environment reader', () => {
  it('treats unset and empty alike: not given', () => {
    expect(optionalEnv({}, 'X')).toBeUndefined();
    expect(optionalEnv({ X: '' }, 'X')).toBeUndefined();
    expect(stringEnv({ X: '' }, 'X', { fallback: 'f' })).toBe('f');
    expect(intEnv({ X: '' }, 'X', { min: 1, max: 9, fallback: 5 })).toBe(5);
    expect(intEnv({ X: '' }, 'X', { min: 1, max: 9 })).toBeUndefined();
    expect(listEnv({}, 'X')).toEqual([]);
  });

  it('reports a missing required variable, with the caller’s words when given', () => {
    fails(() => stringEnv({}, 'X', {}), 'X: is required');
    fails(() => stringEnv({}, 'X', { required: 'is required (a URL)' }), 'X: is required (a URL)');
  });

  it('runs checks in order and reports the first that fails', () => {
    const checks = [matches(/^a/, 'must start with a'), matches(/z$/, 'must end with z')];
    expect(stringEnv({ X: 'az' }, 'X', { checks })).toBe('az');
    fails(() => stringEnv({ X: 'bz' }, 'X', { checks }), 'X: must start with a');
    fails(() => optionalEnv({ X: 'ab' }, 'X', ...checks), 'X: must end with z');
  });

  it('reads whole numbers within bounds', () => {
    const rule = { min: 1, max: 10, fallback: 3 };
    expect(intEnv({ X: '10' }, 'X', rule)).toBe(10);
    fails(() => intEnv({ X: '1.5' }, 'X', rule), 'X: must be a whole number');
    fails(() => intEnv({ X: '-1' }, 'X', rule), 'X: must be a whole number');
    fails(() => intEnv({ X: '0' }, 'X', rule), 'X: must be at least 1');
    fails(() => intEnv({ X: '11' }, 'X', rule), 'X: must be at most 10');
  });

  it('reads one of a few words and lists them when it is none', () => {
    expect(oneOfEnv({ X: 'b' }, 'X', ['a', 'b', 'c'], 'a')).toBe('b');
    expect(oneOfEnv({}, 'X', ['a', 'b', 'c'], 'a')).toBe('a');
    fails(() => oneOfEnv({ X: 'B' }, 'X', ['a', 'b', 'c'], 'a'), 'X: must be a, b or c');
  });

  it('splits a list on commas, dropping blanks', () => {
    expect(listEnv({ X: ' a, b ,,c ' }, 'X')).toEqual(['a', 'b', 'c']);
  });

  it('names the variable when a structured value does not parse', () => {
    const parse = (text: string) => {
      if (text !== 'ok') throw new InvalidValue('must be ok');
      return { ok: true };
    };
    expect(parsedEnv({ X: 'ok' }, 'X', parse)).toEqual({ ok: true });
    expect(parsedEnv({}, 'X', parse)).toBeUndefined();
    fails(() => parsedEnv({ X: 'no' }, 'X', parse), 'X: must be ok');
    // Anything else is a bug, not a configuration error: it is not dressed up as one.
    const broken = () => parsedEnv({ X: 'x' }, 'X', () => JSON.parse('{') as unknown);
    expect(broken).toThrow(SyntaxError);
  });
});
