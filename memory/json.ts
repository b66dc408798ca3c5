// JSON without losing a number. JSON.parse turns 9223372036854775809 into
// 9223372036854775808 and 3.0 into 3; Python keeps both (an int of any size, a
// float that prints "3.0"), and KAOS's data is written by Python. Here a number a
// JavaScript number would change is kept as a JsonNumber holding its text; every
// other number stays a plain number. JSON.parse remains the path for any text
// with no such number (nearly all of it): a scan outside strings decides.
//
// The other way, stringifyJson writes a JsonText (a JsonNumber, an event read
// from Redis) as the text it already has, unchanged and unparsed, and everything
// else as JSON.stringify does, which does the walking natively.
import { randomBytes } from 'node:crypto';

/** A value that carries its own JSON text (a number as written, an entry as stored). */
export abstract class JsonText {
  /**
   * The JSON to write for it (as text, or as UTF-8 bytes), or undefined to write
   * `plain()` instead.
   */
  abstract jsonText(): string | Buffer | undefined;
  /** What it is as plain JavaScript: what JSON.stringify elsewhere writes. */
  abstract plain(): unknown;

  /** Inside stringifyJson: a marker for its text. Elsewhere: its plain value. */
  toJSON(): unknown {
    const text = splices === undefined ? undefined : this.jsonText();
    return text === undefined ? this.plain() : mark(text);
  }
}

/** A number a JavaScript number would not keep: a whole-valued float, or an integer past 2^53. */
export class JsonNumber extends JsonText {
  readonly #text: string;

  constructor(text: string) {
    super();
    this.#text = text;
  }

  /** The number as written in the JSON it was read from. */
  get text(): string {
    return this.#text;
  }

  /** Written as a float (a `.` or an exponent), as Python reads it. */
  get isFloat(): boolean {
    return /[.eE]/.test(this.#text);
  }

  valueOf(): number {
    return Number(this.#text);
  }

  toString(): string {
    return this.#text;
  }

  jsonText(): string {
    // NaN and Infinity (from Python) are not JSON: null, as JSON.stringify writes them.
    return Number.isFinite(Number(this.#text)) ? this.#text : 'null';
  }

  /** The nearest number, never a string. */
  plain(): number {
    return Number(this.#text);
  }
}

/** Text written by stringifyJson as is: it must be one whole JSON value. */
export class RawJson extends JsonText {
  constructor(readonly text: string) {
    super();
  }

  jsonText(): string {
    return this.text;
  }

  plain(): unknown {
    return JSON.parse(this.text);
  }
}

// --- parsing ---------------------------------------------------------------

/** Deeper than this is refused (Python's own json fails near 1,000). */
const MAX_PARSE_DEPTH = 1000;

/** Whether a number token would change as a JavaScript number (so is kept as text). */
function changes(token: string, float = /[.eE]/.test(token)): boolean {
  // Up to 15 digits and a sign: always a safe integer.
  if (!float && token.length < 16) return false;
  const n = Number(token);
  if (float) {
    // A float: only a whole value (3.0, 1e16, -0.0) would print as an int. 1e400 stays
    // Infinity, which input validation refuses as before.
    return Number.isFinite(n) && Number.isInteger(n);
  }
  return !Number.isSafeInteger(n);
}

/** True when `text` holds, outside its strings, a number that changes or NaN/Infinity. */
export function needsLossless(text: string): boolean {
  let at = 0;
  for (;;) {
    const quote = text.indexOf('"', at);
    const end = quote < 0 ? text.length : quote;
    if (end > at && segmentNeedsLossless(text, at, end)) return true;
    if (quote < 0) return false;
    at = stringEnd(text, quote) + 1;
    if (at === 0) return false; // unterminated: JSON.parse will say so
  }
}

/** The index of the quote closing the string opened at `open`, or -1. */
function stringEnd(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const close = text.indexOf('"', from);
    if (close < 0) return -1;
    let slashes = 0;
    for (let i = close - 1; text.charCodeAt(i) === 92; i--) slashes++;
    if (slashes % 2 === 0) return close;
    from = close + 1;
  }
}

function segmentNeedsLossless(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 78 /* N */ || c === 73 /* I */) return true;
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      let float = false;
      for (; j < to; j++) {
        const d = text.charCodeAt(j);
        if (d === 46 || d === 101 || d === 69) float = true;
        else if (!((d >= 48 && d <= 57) || d === 43 || d === 45)) break;
      }
      if (changes(text.slice(i, j), float)) return true;
      i = j - 1;
    }
  }
  return false;
}

/**
 * JSON.parse that keeps every number: one a JavaScript number would change is a
 * JsonNumber. Throws a SyntaxError for text that is not JSON.
 */
export function parseJson(text: string): unknown {
  if (!needsLossless(text)) return JSON.parse(text);
  return new Parser(text, false).document();
}

/** A request body: strict JSON (no NaN or Infinity), numbers kept. The router's parser. */
export function parseJsonBody(text: string): unknown {
  return parseJson(text);
}

/**
 * Text Python's json.dumps wrote: parseJson that also reads NaN, Infinity and
 * -Infinity (as numbers). `strict` is false when the text held one of them, so is
 * not JSON to any other reader.
 */
export function parsePythonJson(text: string): { value: unknown; strict: boolean } {
  if (!needsLossless(text)) return { value: JSON.parse(text), strict: true };
  const parser = new Parser(text, true);
  const value = parser.document();
  return { value, strict: !parser.sawNonFinite };
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const SPECIALS: [string, number][] = [
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
];

/** A recursive-descent parser for the rare text that needs it; strings go through JSON.parse. */
class Parser {
  private at = 0;
  /** Set when a NaN, Infinity or -Infinity was read. */
  sawNonFinite = false;

  constructor(
    private readonly text: string,
    private readonly nonFinite: boolean,
  ) {}

  document(): unknown {
    const value = this.value(0);
    this.space();
    if (this.at < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.at}`);
  }

  private space(): void {
    WHITESPACE.lastIndex = this.at;
    WHITESPACE.test(this.text);
    this.at = WHITESPACE.lastIndex;
  }

  private value(depth: number): unknown {
    this.space();
    const c = this.text[this.at];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case undefined:
        return this.fail('unexpected end of JSON');
      default:
        return this.number();
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.at)) this.fail(`unexpected token`);
    this.at += word.length;
    return value;
  }

  private number(): number | JsonNumber {
    if (this.nonFinite) {
      for (const [word, value] of SPECIALS) {
        if (this.text.startsWith(word, this.at)) {
          this.at += word.length;
          this.sawNonFinite = true;
          return value;
        }
      }
    }
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail('unexpected token');
    this.at = NUMBER.lastIndex;
    const token = m[0];
    return changes(token) ? new JsonNumber(token) : Number(token);
  }

  private string(): string {
    const end = stringEnd(this.text, this.at);
    if (end < 0) this.fail('unterminated string');
    // JSON.parse decodes escapes and refuses raw control characters, as the spec says.
    const value = JSON.parse(this.text.slice(this.at, end + 1)) as string;
    this.at = end + 1;
    return value;
  }

  private enter(depth: number): void {
    if (depth > MAX_PARSE_DEPTH) this.fail(`nests deeper than ${MAX_PARSE_DEPTH} levels`);
    this.at++;
    this.space();
  }

  private array(depth: number): unknown[] {
    this.enter(depth);
    const out: unknown[] = [];
    if (this.text[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.space();
      const c = this.text[this.at++];
      if (c === ']') return out;
      if (c !== ',') this.fail(`expected , or ]`);
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.enter(depth);
    const out: Record<string, unknown> = {};
    if (this.text[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a property name');
      const key = this.string();
      this.space();
      if (this.text[this.at++] !== ':') this.fail('expected :');
      // An own property, as JSON.parse makes it, even for "__proto__".
      Object.defineProperty(out, key, {
        value: this.value(depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.space();
      const c = this.text[this.at++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected , or }');
    }
  }
}

// --- writing ---------------------------------------------------------------

/** A JsonText's JSON: text, or UTF-8 bytes (an event as Redis sent it). */
type Text = string | Buffer;
/** The texts of the stringifyJson call under way, by marker number; undefined outside one. */
let splices: Text[] | undefined;
/** Per process and unguessable: JSON.stringify writes a marker as "\u0000<nonce>:<n>". */
const NONCE = randomBytes(12).toString('hex');
/** How a marker starts in JSON.stringify's output; its number and a `"` follow. */
const MARKER_START = `"\\u0000${NONCE}:`;

/** The first markers, made once: a page of events would make each again per request. */
const MARKERS = Array.from({ length: 256 }, (_, n) => `\u0000${NONCE}:${n}`);

function mark(text: Text): string {
  const list = splices as Text[];
  list.push(text);
  const n = list.length - 1;
  return MARKERS[n] ?? `\u0000${NONCE}:${n}`;
}

/**
 * JSON.stringify that writes each JsonText (a JsonNumber, an event as stored) as
 * its own text: JSON.stringify walks the value and writes a marker for each, then
 * the markers are replaced. NaN and Infinity are null, as JSON.stringify writes
 * them; undefined for undefined, as JSON.stringify.
 */
export function stringifyJson(value: unknown): string | undefined {
  const pieces = jsonPieces(value);
  if (pieces === undefined) return undefined;
  let out = '';
  for (const piece of pieces) out += typeof piece === 'string' ? piece : piece.toString('utf8');
  return out;
}

/**
 * stringifyJson's text as UTF-8 bytes, written piece by piece into one Buffer: the
 * spliced text is never joined into a string on the V8 heap (for a page of events it
 * was the largest allocation of the request, and the young generation's collections
 * cost in proportion to what is allocated).
 */
export function jsonBytes(value: unknown): Buffer | undefined {
  const pieces = jsonPieces(value);
  if (pieces === undefined) return undefined;
  if (pieces.length === 1 && typeof pieces[0] === 'string') return Buffer.from(pieces[0]);
  let length = 0;
  for (const piece of pieces) length += Buffer.byteLength(piece);
  const bytes = Buffer.allocUnsafe(length);
  let at = 0;
  for (const piece of pieces) {
    at += typeof piece === 'string' ? bytes.write(piece, at) : piece.copy(bytes, at);
  }
  return bytes;
}

/** The text of stringifyJson as pieces to concatenate (slices of JSON.stringify's output and the texts). */
function jsonPieces(value: unknown): Text[] | undefined {
  const outer = splices;
  const texts: Text[] = [];
  splices = texts;
  let out: string | undefined;
  try {
    out = JSON.stringify(value);
  } finally {
    splices = outer;
  }
  if (out === undefined) return undefined;
  if (texts.length === 0) return [out];
  // A string of the value's own that spells a marker would be taken for one; then the
  // markers are not exactly 0, 1, 2… once each, and the value is written the slow way.
  const spliced = splice(out, texts);
  if (spliced) return spliced;
  const slow = write(value);
  return slow === undefined ? undefined : [slow];
}

/** `out` with its markers, which must be numbered 0, 1, 2… in order, replaced by `texts`. */
function splice(out: string, texts: Text[]): Text[] | undefined {
  const pieces: Text[] = [];
  let from = 0;
  for (let n = 0; n < texts.length; n++) {
    const at = out.indexOf(MARKER_START, from);
    if (at < 0) return undefined;
    const digits = at + MARKER_START.length;
    const end = out.indexOf('"', digits);
    if (end < 0 || out.slice(digits, end) !== String(n)) return undefined;
    pieces.push(out.slice(from, at), texts[n] as Text);
    from = end + 1;
  }
  if (out.indexOf(MARKER_START, from) >= 0) return undefined;
  pieces.push(out.slice(from));
  return pieces;
}

/** The slow way: a walk in JavaScript, JsonText written as its text. */
function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return value === null ? 'null' : writeObject(value);
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
}

function writeObject(value: object): string | undefined {
  if (value instanceof JsonText) {
    const text = value.jsonText();
    return text === undefined ? write(value.plain()) : String(text);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write((toJSON as () => unknown).call(value));
  if (Array.isArray(value)) {
    const parts = new Array<string>(value.length);
    for (let i = 0; i < value.length; i++) parts[i] = write(value[i]) ?? 'null';
    return `[${parts.join(',')}]`;
  }
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const item = write((value as Record<string, unknown>)[key]);
    if (item !== undefined) parts.push(`${JSON.stringify(key)}:${item}`);
  }
  return `{${parts.join(',')}}`;
}
