// Token counts of the texts the sidecar counted lately. An agent reads its window back
// every turn, nearly all of it the events the turn before read too, and counting them was
// the largest part of a /context?max_tokens or a recall (docs/decisions.md, "Counting a
// window once"). Two generations of a Map: a text asked for again moves to the young one,
// and the old one is dropped whole when the young one is full.
import { countTokens } from './tokens.js';

/** Characters the counts keep texts for, in all: about 128 KiB of one-byte strings. */
export const TOKEN_COUNTS_CHARS = 128 * 1024;

export class TokenCounts {
  #young = new Map<string, number>();
  #old = new Map<string, number>();
  #youngChars = 0;
  /** What each generation holds at most. */
  readonly #half: number;
  /** A longer text is counted each time: kept, it would push out many shorter ones. */
  readonly #longest: number;

  constructor(
    maxChars: number = TOKEN_COUNTS_CHARS,
    private readonly counter: (text: string) => number = countTokens,
  ) {
    this.#half = maxChars / 2;
    this.#longest = maxChars / 16;
  }

  /** countTokens(text), without counting again a text counted lately. */
  readonly count = (text: string): number => {
    let tokens = this.#young.get(text);
    if (tokens !== undefined) return tokens;
    tokens = this.#old.get(text) ?? this.counter(text);
    if (text.length <= this.#longest) this.#keep(text, tokens);
    return tokens;
  };

  /** Characters of the texts kept now (a text in both generations once per generation). */
  get chars(): number {
    let old = 0;
    for (const text of this.#old.keys()) old += text.length;
    return this.#youngChars + old;
  }

  #keep(text: string, tokens: number): void {
    if (this.#youngChars + text.length > this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#youngChars = 0;
    }
    this.#young.set(text, tokens);
    this.#youngChars += text.length;
  }
}
