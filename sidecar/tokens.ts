// The one token counter of the sidecar: `/context?max_tokens` and memory v2's
// short-term window count with it. It splits text exactly as o200k_base (the
// encoding of GPT-4o and later) does before its merges, and estimates each piece's
// tokens from its length and script instead of running the merges: the merge
// table costs 30 to 100 MiB in a sidecar whose whole budget is 16
// (docs/decisions.md, "Counting tokens").

/** Names the counter in answers, so a caller knows what `tokens` measured. */
export const TOKEN_COUNTER = 'o200k-estimate-1';

// Fitted to o200k_base on prose, code, JSON and 56 languages (docs/decisions.md).
/** An ASCII word is one token, and one more for every this many letters. */
const LETTERS_PER_EXTRA_TOKEN = 24;
/** Characters per token of a word in another script (Cyrillic, accented Latin, Arabic…). */
const OTHER_CHARS_PER_TOKEN = 2.6;
/** Scripts written without spaces: about one token per character. */
const WIDE_CHARS_PER_TOKEN = 1.1;
/** A run of punctuation up to 3 characters is one token; a longer run, this many characters a token. */
const PUNCT_CHARS_PER_TOKEN = 2;

// o200k_base's pre-tokenizer (tiktoken's pattern, its contractions spelled out for
// JS), each kind of piece in a group: 1 words, 2 numbers, 3 punctuation, else spaces.
const CONTRACTION = "(?:'[sStTmMdD]|'[rR][eE]|'[vV][eE]|'[lL][lL])?";
const UPPER = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWER = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';
const LEAD = '[^\\r\\n\\p{L}\\p{N}]?';
const PATTERN = [
  `(${LEAD}${UPPER}*${LOWER}+${CONTRACTION}|${LEAD}${UPPER}+${LOWER}*${CONTRACTION})`,
  '(\\p{N}{1,3})',
  '( ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*)',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');
/** One piece at lastIndex: the scanner's fallback where a piece may hold a character above ASCII. */
const PIECE_AT = new RegExp(PATTERN, 'uy');
const LEADS_WITH_LETTER = /^[\p{L}\p{M}]/u;
const WIDE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu;

/** The tokens of `text`, estimated as o200k_base would encode it (0 for ''). */
export function countTokens(text: string): number {
  let tokens = 0;
  let i = 0;
  while (i < text.length) {
    const end = asciiPiece(text, i);
    if (end > 0) {
      tokens +=
        pieceKind === WORD
          ? 1 + (end - i - lead) / LETTERS_PER_EXTRA_TOKEN
          : pieceKind === PUNCT
            ? punctTokens(end - i - lead)
            : 1;
      i = end;
    } else {
      const [piece, tokensOfPiece] = patternPiece(text, i);
      tokens += tokensOfPiece;
      i += piece.length;
    }
  }
  return Math.ceil(tokens);
}

/** The same count by the pattern alone, piece by piece: the definition the scanner must match. */
export function countTokensByPattern(text: string): number {
  let tokens = 0;
  for (let i = 0; i < text.length;) {
    const [piece, tokensOfPiece] = patternPiece(text, i);
    tokens += tokensOfPiece;
    i += piece.length;
  }
  return Math.ceil(tokens);
}

function patternPiece(text: string, at: number): [string, number] {
  PIECE_AT.lastIndex = at;
  const m = PIECE_AT.exec(text);
  // Every character starts some piece; a lone surrogate is the one exception.
  if (m === null) return [text.charAt(at), 1];
  const piece = m[0];
  if (m[1] !== undefined) return [piece, wordTokens(piece)];
  if (m[3] !== undefined) {
    return [piece, punctTokens(piece.charCodeAt(0) === SPACE ? piece.length - 1 : piece.length)];
  }
  return [piece, 1];
}

function punctTokens(length: number): number {
  return length <= 3 ? 1 : length / PUNCT_CHARS_PER_TOKEN;
}

/** A word piece: letters after at most one leading character that is not one. */
function wordTokens(word: string): number {
  const lead = LEADS_WITH_LETTER.test(word) ? 0 : 1;
  let ascii = true;
  for (let i = 0; i < word.length && ascii; i++) ascii = word.charCodeAt(i) < 0x80;
  if (ascii) return 1 + (word.length - lead) / LETTERS_PER_EXTRA_TOKEN;
  const wide = word.match(WIDE)?.length ?? 0;
  const rest = [...word].length - lead - wide;
  return Math.max(1, wide / WIDE_CHARS_PER_TOKEN + rest / OTHER_CHARS_PER_TOKEN);
}

// --- the ASCII scanner: the pattern's pieces without a regex, ten times faster --------

const UP = 1;
const LOW = 2;
const DIGIT = 3;
const BLANK = 4; // white space other than a line break
const BREAK = 5; // \r or \n
const OTHER = 6;
const WIDE_CHAR = 7; // above ASCII: the pattern decides
const SPACE = 0x20;

const CLASS = new Uint8Array(128).map((_, c) =>
  c >= 0x41 && c <= 0x5a
    ? UP
    : c >= 0x61 && c <= 0x7a
      ? LOW
      : c >= 0x30 && c <= 0x39
        ? DIGIT
        : c === 0x0a || c === 0x0d
          ? BREAK
          : c === 0x09 || c === 0x0b || c === 0x0c || c === SPACE
            ? BLANK
            : OTHER,
);
function classAt(text: string, i: number): number {
  if (i >= text.length) return 0;
  const c = text.charCodeAt(i);
  return c < 0x80 ? (CLASS[c] as number) : WIDE_CHAR;
}

const WORD = 1;
const NUMBER = 2;
const PUNCT = 3;
const WHITE = 4;
/** What asciiPiece found: its kind, and whether it began with a lead character (0 or 1). */
let pieceKind = 0;
let lead = 0;

/**
 * The end of the piece the pattern matches at `i`, when that piece and the characters
 * that decide it are all ASCII; else 0 (the caller asks the pattern).
 */
function asciiPiece(text: string, i: number): number {
  const c = classAt(text, i);
  if (c === WIDE_CHAR) return 0;
  // A word, after at most one leading character that is not a line break, letter or digit.
  const p = c === BLANK || c === OTHER ? i + 1 : i;
  const first = p === i ? c : classAt(text, p);
  if (first === WIDE_CHAR) return 0;
  if (first === UP || first === LOW) return wordAt(text, i, p);
  if (c === DIGIT) return numberAt(text, i);
  // Punctuation, after at most one space, then any line breaks and slashes.
  const q = c === BLANK && text.charCodeAt(i) === SPACE && first === OTHER ? i + 1 : i;
  if (classAt(text, q) === OTHER) return punctAt(text, i, q);
  return whiteAt(text, i, c);
}

function wordAt(text: string, i: number, p: number): number {
  let j = p;
  while (classAt(text, j) === UP) j++;
  let k = j;
  while (classAt(text, k) === LOW) k++;
  if (classAt(text, k) === WIDE_CHAR) return 0;
  pieceKind = WORD;
  lead = p - i;
  return contraction(text, k);
}

function numberAt(text: string, i: number): number {
  let k = i + 1;
  while (k < i + 3 && classAt(text, k) === DIGIT) k++;
  if (k < i + 3 && classAt(text, k) === WIDE_CHAR) return 0;
  pieceKind = NUMBER;
  return k;
}

function punctAt(text: string, i: number, p: number): number {
  let k = p;
  while (classAt(text, k) === OTHER) k++;
  if (classAt(text, k) === WIDE_CHAR) return 0;
  while (k < text.length) {
    const b = text.charCodeAt(k);
    if (b !== 0x0a && b !== 0x0d && b !== 0x2f) break;
    k++;
  }
  pieceKind = PUNCT;
  lead = p - i;
  return k;
}

/**
 * White space: through its last line break; else all of it, or all but the last
 * character before a non-space (which then leads the next word or punctuation).
 */
function whiteAt(text: string, i: number, c: number): number {
  let j = i;
  let lastBreak = -1;
  for (let w = c; w === BLANK || w === BREAK; w = classAt(text, ++j)) {
    if (w === BREAK) lastBreak = j;
  }
  if (classAt(text, j) === WIDE_CHAR) return 0;
  pieceKind = WHITE;
  if (lastBreak >= 0) return lastBreak + 1;
  return j < text.length && j - i >= 2 ? j - 1 : j;
}

/** After a word: 's, 't, 're, 've, 'm, 'll or 'd, in any case. */
function contraction(text: string, k: number): number {
  if (k >= text.length || text.charCodeAt(k) !== 0x27) return k;
  const a = k + 1 < text.length ? text.charCodeAt(k + 1) | 0x20 : 0;
  const b = k + 2 < text.length ? text.charCodeAt(k + 2) | 0x20 : 0;
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return k + 2; // s t m d
  if ((a === 0x72 || a === 0x76) && b === 0x65) return k + 3; // re ve
  if (a === 0x6c && b === 0x6c) return k + 3; // ll
  return k;
}
