import { describe, expect, it } from 'vitest';
import {
  JsonNumber,
  needsLossless,
  parseJson,
  parseJsonBody,
  parsePythonJson,
  RawJson,
  jsonBytes,
  stringifyJson,
} from './json.js';

describe('parseJson', () => {
  it('keeps integers past 2^53 and whole-valued floats as their text', () => {
    const value = parseJson(
      '{"id": 9223372036854775809, "neg": -9007199254740993, "f": 3.0, "big": 1e16, "z": -0.0, "e": 1E2}',
    ) as Record<string, JsonNumber>;
    expect(Object.values(value).map((n) => n.text)).toEqual([
      '9223372036854775809',
      '-9007199254740993',
      '3.0',
      '1e16',
      '-0.0',
      '1E2',
    ]);
    expect(value.id).toBeInstanceOf(JsonNumber);
    expect(value.f?.isFloat).toBe(true);
    expect(value.id?.isFloat).toBe(false);
  });

  it('leaves every number a JavaScript number keeps as a number', () => {
    expect(parseJson('[1, -2, 0.5, 2.5e-05, 9007199254740991, -0, 1e400]')).toEqual([
      1,
      -2,
      0.5,
      0.000025,
      9007199254740991,
      -0,
      Number.POSITIVE_INFINITY,
    ]);
  });

  it('reads strings, nesting and escapes as JSON.parse does, numbers in strings untouched', () => {
    const text =
      '{"s": "a \\"quoted\\" 3.0 and \\\\", "t": "\\\\", "u": "\\u00e9\\ud83d\\ude00", "n": [[{"x": 1.5e-9}]], "k": 3.0}';
    const value = parseJson(text) as Record<string, unknown>;
    const plain = JSON.parse(text) as Record<string, unknown>;
    expect(value.s).toBe(plain.s);
    expect(value.t).toBe(plain.t);
    expect(value.u).toBe(plain.u);
    expect(value.n).toEqual(plain.n);
    expect((value.k as JsonNumber).text).toBe('3.0');
  });

  it('makes "__proto__" an own property, as JSON.parse does', () => {
    const value = parseJson('{"__proto__": {"polluted": 1}, "n": 3.0}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'n']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what JSON.parse refuses, on either path', () => {
    for (const bad of [
      '{"a": 3.0,}',
      '[3.0',
      '{"a" 3.0}',
      '3.0 4',
      '[01.0]',
      '[NaN]',
      '[Infinity]',
      '[-Infinity]',
      '["\u0001", 3.0]',
      '',
      '[.5]',
      '[1.]',
    ]) {
      expect(() => parseJson(bad), bad).toThrow(SyntaxError);
      expect(() => JSON.parse(bad), bad).toThrow(SyntaxError);
    }
  });

  it('refuses nesting deeper than Python reads, without exhausting the stack', () => {
    const deep = `${'['.repeat(5000)}3.0${']'.repeat(5000)}`;
    expect(() => parseJsonBody(deep)).toThrow(/deeper than 1000/);
  });
});

describe('parsePythonJson', () => {
  it("reads Python's NaN and Infinity, and says the text is not strict JSON", () => {
    const { value, strict } = parsePythonJson('[NaN, Infinity, -Infinity, 1]');
    expect(value).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1]);
    expect(strict).toBe(false);
    expect(parsePythonJson('[3.0, "NaN"]').strict).toBe(true);
    expect(parsePythonJson('[1]').strict).toBe(true);
  });
});

describe('needsLossless (the JSON.parse fast path)', () => {
  it('is false for text whose numbers JSON.parse keeps, whatever its strings hold', () => {
    for (const text of [
      '{"event_id": "event_0a1e2b3c", "timestamp": "2026-02-17T10:00:00.123456+00:00", "event_type": "user_message", "content": "pi is 3.0 and 1e16; NaN, Infinity", "metadata": {}}',
      '{"n": [1, -2, 0.5, 1.25e-7, 9007199254740991], "s": "\\"3.0\\""}',
      '"3.0"',
      '[]',
    ]) {
      expect(needsLossless(text), text).toBe(false);
    }
  });

  it('is true for a number JSON.parse would change, or NaN/Infinity, outside strings', () => {
    for (const text of [
      '[3.0]',
      '{"a": "x\\\\", "b": 9007199254740993}',
      '{"a": -0.0}',
      '{"a": 1e16}',
      '[NaN]',
      '{"a": -Infinity}',
    ]) {
      expect(needsLossless(text), text).toBe(true);
    }
  });
});

describe('stringifyJson', () => {
  it('writes what parseJson read, every number as written', () => {
    const text =
      '{"id":9223372036854775809,"f":3.0,"e":1E+16,"z":-0.0,"s":"x","a":[1,0.5,true,null],"o":{}}';
    expect(stringifyJson(parseJson(text))).toBe(text);
  });

  it('matches JSON.stringify on plain values', () => {
    const value = {
      a: [1, 'two', null, undefined, () => 1, { b: undefined, c: 2.5 }],
      d: new Date(0),
      e: -0,
      n: Number.NaN,
      i: Number.NEGATIVE_INFINITY,
      s: 'é\u2028"\\',
      u: undefined,
    };
    expect(stringifyJson(value)).toBe(JSON.stringify(value));
    expect(stringifyJson(undefined)).toBeUndefined();
    expect(() => stringifyJson({ b: 1n })).toThrow(TypeError);
  });

  it('writes a JsonText as its text, inside any structure, and a string that spells a marker as itself', () => {
    const raw = new RawJson('{"a": 9223372036854775809}');
    expect(stringifyJson({ events: [raw, raw], n: new JsonNumber('3.0') })).toBe(
      '{"events":[{"a": 9223372036854775809},{"a": 9223372036854775809}],"n":3.0}',
    );
    // A marker caught in one call and sent back as data in the next is written as data.
    let forged = '';
    stringifyJson([{ toJSON: () => (forged = raw.toJSON() as string) }]);
    expect(forged).toContain('\u0000');
    expect(stringifyJson([forged, raw])).toBe(
      `[${JSON.stringify(forged)},{"a": 9223372036854775809}]`,
    );
    expect(stringifyJson([raw, forged])).toBe(
      `[{"a": 9223372036854775809},${JSON.stringify(forged)}]`,
    );
  });

  it('writes the same text as UTF-8 bytes in jsonBytes, pieces and all', () => {
    const raw = new RawJson('{"é": "☃ 9223372036854775809"}');
    const many = Array.from({ length: 300 }, (_, i) => (i % 3 ? raw : `ü${i}`));
    for (const value of [
      { events: [raw, 'ß', raw], n: new JsonNumber('3.0'), s: 'naïve 😀' },
      many,
      'plain',
      [new JsonNumber('1E+400')],
    ]) {
      const bytes = jsonBytes(value);
      expect(bytes?.toString('utf8')).toBe(stringifyJson(value));
      expect(bytes?.length).toBe(Buffer.byteLength(stringifyJson(value) ?? ''));
    }
    expect(jsonBytes(undefined)).toBeUndefined();
    let forged = '';
    stringifyJson([{ toJSON: () => (forged = raw.toJSON() as string) }]);
    expect(jsonBytes([raw, forged])?.toString()).toBe(stringifyJson([raw, forged]));
  });

  it('splices RawJson, and writes JsonNumber NaN as null (valid JSON)', () => {
    expect(stringifyJson([new RawJson('{"a": 1}'), new JsonNumber('NaN')])).toBe('[{"a": 1},null]');
  });

  it('gives JSON.stringify elsewhere the nearest number, never a string', () => {
    expect(JSON.stringify(parseJson('[3.0, 9223372036854775809]'))).toBe('[3,9223372036854776000]');
  });
});
