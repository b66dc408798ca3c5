import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JsonNumber, parsePythonJson } from './json.js';
import { pyDumps, pyFloatRepr, pyStr } from './pyjson.js';

// The reference is Python itself: for each line of JSON text, what Python's
// json.loads then json.dumps (or str) prints must be what the sidecar prints after
// reading the same text.
// Debian's python3 when there is one: a version manager's shim can take seconds to start.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function python(expr: string, lines: string[]): string[] {
  const script = `import json,sys\nfor line in sys.stdin:\n    v = json.loads(line)\n    print(json.dumps(${expr}))`;
  const out = execFileSync(PYTHON, ['-c', script], {
    input: lines.join('\n') + '\n',
    encoding: 'utf8',
  });
  // Each output line is a JSON string (so newlines in str() survive the trip).
  return out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as string);
}

const read = (line: string) => parsePythonJson(line).value;

const samples: unknown[] = [
  'plain',
  'héllo wörld — “quotes” ✓',
  'emoji 😀 and \u0000 control \u001f and \u007f del',
  'quote " backslash \\ slash / tab \t newline \n',
  '\ud800 lone surrogate',
  { event_id: 'event_1', content: { tool: 'search', arguments: { q: 'x', n: 3 } }, metadata: {} },
  [1, -2, 3.5, 0, true, false, null, [], {}],
  { nested: [{ a: [{ b: 'ü' }] }], empty: '' },
  1e-7,
  123456789012,
  -0.5,
  { 'key with spaces': 1, ключ: 'значение', 日本: '語' },
];

// Numbers as JSON text, spelled as clients and Python write them.
const numberTexts = [
  '9223372036854775809',
  '-9223372036854775809',
  '9007199254740993',
  '123456789012345678901234567890',
  '-0',
  '3.0',
  '-0.0',
  '0.0',
  '1e16',
  '1E16',
  '1e+16',
  '1e15',
  '1000000000000000.0',
  '1e22',
  '1.5e300',
  '2.5e-05',
  '0.000025',
  '0.0001',
  '0.00001',
  '1e-7',
  '1.2345678901234567',
  '0.1',
  '100.0',
  '5e-324',
  '1.7976931348623157e308',
  '123456789.125',
  '1e400',
  '-1e400',
  'NaN',
  'Infinity',
  '-Infinity',
];

/** Doubles from random bit patterns, printed three ways: every exponent and digit count. */
function randomDoubles(count: number): string[] {
  const buf = new DataView(new ArrayBuffer(8));
  const out: string[] = [];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  while (out.length < count) {
    buf.setUint32(0, next());
    buf.setUint32(4, next());
    const n = buf.getFloat64(0);
    if (!Number.isFinite(n)) continue;
    out.push(String(n), n.toExponential(), n.toPrecision(17));
  }
  // Whole and short values, where Python's layout switches between forms.
  for (let e = -30; e <= 30; e++) out.push(`1e${e}`, `-7.5e${e}`, `123e${e}`);
  return out;
}

describe('pyDumps', () => {
  it('prints exactly what Python json.dumps prints', () => {
    const lines = samples.map((v) => JSON.stringify(v));
    const expected = python('json.dumps(v)', lines);
    lines.forEach((line, i) => expect(pyDumps(read(line))).toBe(expected[i]));
  });

  it('spells every number as Python does, read from the same text (ints of any size, repr(float), NaN)', () => {
    const lines = [...numberTexts, ...randomDoubles(1000)].map((t) => `[${t}]`);
    const expected = python('json.dumps(v)', lines);
    const wrong = lines.filter((line, i) => pyDumps(read(line)) !== expected[i]);
    expect(wrong).toEqual([]);
  });

  it('writes a JavaScript integer past 2^53 as the whole number it is', () => {
    expect(pyDumps(2 ** 70)).toBe('1180591620717411303424');
    expect(pyDumps(new JsonNumber('-0'))).toBe('0');
  });

  it('rejects values JSON cannot hold', () => {
    expect(() => pyDumps(() => 1)).toThrow(/cannot encode/);
  });
});

describe('pyStr', () => {
  it("prints what Python's str() prints for the same JSON", () => {
    const lines = [
      ...samples.map((v) => JSON.stringify(v)),
      ...numberTexts.map((t) => `{"n": ${t}}`),
      '{"a": "it\'s", "b": "say \\"hi\\"", "c": "both \' and \\"", "d": "\\\\"}',
      '["\\u00a0nbsp", "\\u00ad soft hyphen", "\\u200b zero width", "\\u2028 line sep", "\\ue000 private"]',
      '["\\ud83d\\ude00", "\\udbff\\udfff", "\\u0085", "\\u00ff", "\\u0100"]',
      '{"tool": "search", "result": {"ok": true, "items": [null, 1, 2.5, "x"]}}',
      // Every printable ASCII character on its own, then all of them but ' and \\ in one string.
      JSON.stringify([
        ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)),
        Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i))
          .filter((c) => c !== "'" && c !== '\\')
          .join(''),
      ]),
      '[]',
      '{}',
      'null',
      'true',
      '12',
    ];
    const expected = python('str(v)', lines);
    lines.forEach((line, i) => expect(pyStr(read(line)), line).toBe(expected[i]));
  });
});

describe('pyFloatRepr', () => {
  it("is Python's repr(float) at the edges of its layouts", () => {
    expect(pyFloatRepr(1e16)).toBe('1e+16');
    expect(pyFloatRepr(1e15)).toBe('1000000000000000.0');
    expect(pyFloatRepr(0.0001)).toBe('0.0001');
    expect(pyFloatRepr(0.00001)).toBe('1e-05');
    expect(pyFloatRepr(-0)).toBe('-0.0');
    expect(pyFloatRepr(Number.NaN)).toBe('nan');
  });
});
