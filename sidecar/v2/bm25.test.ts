import { describe, expect, it } from 'vitest';
import { rankBm25, words } from './bm25.js';

const rank = (query: string, docs: string[], k = 10) =>
  rankBm25(query, docs, (d) => d, k).map((r) => r.item);

describe('BM25 ranking', () => {
  it('splits words on anything but letters and digits, case-insensitively, less function words', () => {
    expect(words('The EU-West-1 cluster; Grüße!')).toEqual(['eu', 'west', '1', 'cluster', 'grüße']);
  });

  it('puts the fact that shares the rarer words first, and leaves out facts sharing none', () => {
    const docs = [
      'the user likes tea',
      'the production cluster runs in eu-west-1',
      'the staging cluster runs in us-east-1',
      'lunch is at noon',
    ];
    expect(rank('where does the production cluster run', docs)).toEqual([docs[1], docs[2]]);
    expect(rank('eu-west-1', docs)).toEqual([docs[1], docs[2]]);
    expect(rank('coffee', docs)).toEqual([]);
    expect(rank('', docs)).toEqual([]);
  });

  it('returns at most top_k, and breaks ties by order given', () => {
    const docs = ['alpha one', 'alpha two', 'alpha three'];
    expect(rank('alpha', docs, 2)).toEqual(['alpha one', 'alpha two']);
    expect(rank('alpha', docs, 0)).toEqual([]);
  });

  it('weighs a repeated term up and a long fact down', () => {
    const docs = [
      'tea',
      'tea tea and more tea',
      'tea is a drink that many people like to drink often',
    ];
    const [first, second] = rankBm25('tea', docs, (d) => d, 3);
    expect(first?.item).toBe('tea tea and more tea');
    expect(second?.item).toBe('tea');
    expect(first!.score).toBeGreaterThan(second!.score);
  });
});
