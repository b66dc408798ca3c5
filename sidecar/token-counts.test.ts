import { describe, expect, it } from 'vitest';
import { TokenCounts } from './token-counts.js';
import { countTokens } from './tokens.js';

const line = (i: number) => `User: turn ${i}: Please summarise the incidents and draft a reply.`;

/** TokenCounts over the real counter, and how many texts it has counted. */
function counting(maxChars: number) {
  const counted: string[] = [];
  const counts = new TokenCounts(maxChars, (text) => {
    counted.push(text);
    return countTokens(text);
  });
  return { counts, counted };
}

describe('TokenCounts', () => {
  it("gives the counter's count, asked once or again, in any script", () => {
    const { counts } = counting(10_000);
    const texts = [
      line(1),
      'Können Sie mir sagen, wann?',
      '東京の天気を教えてください',
      '',
      line(2),
    ];
    for (let round = 0; round < 3; round++) {
      for (const text of texts) expect(counts.count(text)).toBe(countTokens(text));
    }
  });

  it('counts a text once, and answers it built again (another string, same characters) from memory', () => {
    const { counts, counted } = counting(10_000);
    counts.count(line(7));
    const again = ['User: turn 7', ': Please summarise the incidents and draft a reply.'].join('');
    expect(counts.count(again)).toBe(countTokens(line(7)));
    expect(counted).toEqual([line(7)]);
  });

  it('keeps no more characters than it is given, however many texts it counts', () => {
    const max = 4_000;
    const { counts } = counting(max);
    let most = 0;
    for (let i = 0; i < 2_000; i++) {
      expect(counts.count(line(i))).toBe(countTokens(line(i)));
      most = Math.max(most, counts.chars);
    }
    expect(most).toBeGreaterThan(max / 2);
    expect(most).toBeLessThanOrEqual(max);
  });

  it('keeps the texts asked for every turn while texts read once pass through', () => {
    const { counts, counted } = counting(4_000);
    // A window of ~1,300 characters read back every turn, beside ~650 new ones a turn.
    const window = Array.from({ length: 20 }, (_, i) => line(i));
    for (let turn = 0; turn < 50; turn++) {
      for (const text of window) counts.count(text);
      for (let k = 0; k < 10; k++) counts.count(line(1_000 + turn * 10 + k));
    }
    // The window was counted in the first turn only; each text read once, once.
    expect(counted.filter((t) => window.includes(t))).toHaveLength(window.length);
    expect(counted).toHaveLength(window.length + 50 * 10);
  });

  it('counts a text longer than a sixteenth of its room each time, keeping none of it', () => {
    const { counts, counted } = counting(16_000);
    const long = 'word '.repeat(400);
    expect(counts.count(long)).toBe(countTokens(long));
    expect(counts.count(long)).toBe(countTokens(long));
    expect(counted).toHaveLength(2);
    expect(counts.chars).toBe(0);
  });
});
