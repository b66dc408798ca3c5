import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pyDumps } from './pyjson.js';

// The reference is Python itself: json.dumps of the same value must be byte-identical.
function python(values: unknown[]): string[] {
  const script = 'import json,sys\nfor line in sys.stdin:\n    print(json.dumps(json.loads(line)))';
  const input = values.map((v) => JSON.stringify(v)).join('\n') + '\n';
  return execFileSync('python3', ['-c', script], { input, encoding: 'utf8' }).trimEnd().split('\n');
}

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

describe('pyDumps', () => {
  it('prints exactly what Python json.dumps prints', () => {
    const expected = python(samples);
    samples.forEach((value, i) => expect(pyDumps(value)).toBe(expected[i]));
  });

  it('rejects values JSON cannot hold', () => {
    expect(() => pyDumps(Number.NaN)).toThrow(/non-finite/);
    expect(() => pyDumps(() => 1)).toThrow(/cannot encode/);
  });
});
