// Python's spellings of JSON values: json.dumps with default arguments (pyDumps),
// so an event written here is byte-for-byte what KAOS's RedisMemory would have
// written (", " and ": " separators, every character outside printable ASCII as
// \uXXXX, floats as repr(float), NaN and Infinity as Python writes them), and
// str() (pyStr), as KAOS renders an event's content into a prompt.
import { JsonNumber } from './json.js';

const NON_ASCII = /[\u007f-\uffff]/g;

function escapeUnit(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function dumpString(s: string): string {
  // JSON.stringify already escapes quotes, backslashes, controls and lone surrogates.
  return JSON.stringify(s).replace(NON_ASCII, escapeUnit);
}

/**
 * repr(float): the shortest digits that read back as the same number (what
 * toExponential() gives too), in Python's layout: positional from 1e-4 up to
 * 1e16 with at least one digit after the point, else d.ddde±XX.
 */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa = '', exponent = '0'] = n.toExponential().split('e');
  const sign = n < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const exp = Number(exponent);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${whole}.${digits.slice(exp + 1) || '0'}`;
}

/** str(int) of a whole number: exact however large (a JavaScript integer past 2^53 included). */
function intText(n: number): string {
  return Number.isSafeInteger(n) ? String(n === 0 ? 0 : n) : BigInt(n).toString();
}

/** A number as Python holds it: a float (`n`), or an int (`int`, its exact digits). */
function pyNumber(value: number | JsonNumber): { float: boolean; n: number; int?: string } {
  if (value instanceof JsonNumber) {
    if (value.isFloat) return { float: true, n: Number(value.text) };
    return { float: false, n: Number(value.text), int: BigInt(value.text).toString() };
  }
  if (Number.isInteger(value)) return { float: false, n: value, int: intText(value) };
  return { float: true, n: value };
}

/** A number as json.dumps writes it: NaN, Infinity and -Infinity included (allow_nan). */
function dumpNumber(value: number | JsonNumber): string {
  const p = pyNumber(value);
  if (!p.float) return p.int ?? '0';
  if (Number.isNaN(p.n)) return 'NaN';
  if (!Number.isFinite(p.n)) return p.n > 0 ? 'Infinity' : '-Infinity';
  return pyFloatRepr(p.n);
}

export function pyDumps(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return dumpString(value);
    case 'number':
      return dumpNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value instanceof JsonNumber) return dumpNumber(value);
      if (Array.isArray(value)) return `[${value.map(pyDumps).join(', ')}]`;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined) continue;
        parts.push(`${dumpString(k)}: ${pyDumps(v)}`);
      }
      return `{${parts.join(', ')}}`;
    }
    default:
      throw new TypeError(`cannot encode ${typeof value} as JSON`);
  }
}

// --- str() -------------------------------------------------------------------

/** What Python's str.isprintable() refuses: categories C* and Z* (the space aside). */
const UNPRINTABLE = /[\p{C}\p{Z}]/u;

/** Printable ASCII but for ' and \: what repr() writes as it is, between single quotes. */
const AS_IS = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/** repr(str): single quotes unless the text holds ' and no ", escapes as Python makes them. */
export function pyReprString(s: string): string {
  // Most text: one native test instead of a string built a character at a time.
  if (AS_IS.test(s)) return `'${s}'`;
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f || !UNPRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** repr() of a JSON value as json.loads gives it to Python. */
function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  switch (typeof value) {
    case 'string':
      return pyReprString(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'number':
      return reprNumber(value);
    case 'object': {
      if (value instanceof JsonNumber) return reprNumber(value);
      if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
      const parts = Object.entries(value as Record<string, unknown>).map(
        ([k, v]) => `${pyReprString(k)}: ${pyRepr(v)}`,
      );
      return `{${parts.join(', ')}}`;
    }
    default:
      throw new TypeError(`${typeof value} is not a JSON value`);
  }
}

function reprNumber(value: number | JsonNumber): string {
  const p = pyNumber(value);
  return p.float ? pyFloatRepr(p.n) : (p.int ?? '0');
}

/** str() of a JSON value as json.loads gives it to Python: a string as itself, the rest as repr(). */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}
