// Lexical relevance for facts, where upstream's Mem0 ranks by embedding: Okapi
// BM25 over the candidate facts of one scope (a bounded set: the work per recall
// is bounded by the store's caps). Words are runs of Unicode letters and digits,
// lower-cased, less a short list of English function words (a question's "in" or
// "the" would otherwise rank any fact holding them); no stemming.

const K1 = 1.2;
const B = 0.75;
const WORD = /[\p{L}\p{N}]+/gu;
const STOP = new Set(
  (
    'a an and are as at be but by did do does for from had has have how i if in into is it its ' +
    'me my no not of on or our so that the their them then there these they this to was we were ' +
    'what when where which who why will with you your'
  ).split(' '),
);

/** The words of a text that count for relevance. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).filter((w) => !STOP.has(w));
}

export interface Ranked<T> {
  item: T;
  score: number;
}

/**
 * The items that share at least one word with the query, best first (ties: the
 * earlier item in `items` first), at most `topK`.
 */
export function rankBm25<T>(
  query: string,
  items: readonly T[],
  text: (item: T) => string,
  topK: number,
): Ranked<T>[] {
  const terms = [...new Set(words(query))];
  if (terms.length === 0 || items.length === 0 || topK <= 0) return [];
  const docs = items.map((item) => {
    const tf = new Map<string, number>();
    const ws = words(text(item));
    for (const w of ws) tf.set(w, (tf.get(w) ?? 0) + 1);
    return { item, tf, length: ws.length };
  });
  const avgLength = docs.reduce((sum, d) => sum + d.length, 0) / docs.length || 1;
  const idf = new Map<string, number>();
  for (const term of terms) {
    const df = docs.filter((d) => d.tf.has(term)).length;
    idf.set(term, Math.log(1 + (docs.length - df + 0.5) / (df + 0.5)));
  }
  const ranked: (Ranked<T> & { at: number })[] = [];
  docs.forEach((d, at) => {
    let score = 0;
    for (const term of terms) {
      const f = d.tf.get(term);
      if (f === undefined) continue;
      score +=
        ((idf.get(term) ?? 0) * f * (K1 + 1)) / (f + K1 * (1 - B + (B * d.length) / avgLength));
    }
    if (score > 0) ranked.push({ item: d.item, score, at });
  });
  ranked.sort((a, b) => b.score - a.score || a.at - b.at);
  return ranked.slice(0, topK).map(({ item, score }) => ({ item, score }));
}
