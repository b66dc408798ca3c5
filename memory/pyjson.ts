// JSON exactly as Python's json.dumps prints it with default arguments, so an
// event written here is byte-for-byte what KAOS's RedisMemory would have written:
// ", " and ": " separators, and every character outside printable ASCII as \uXXXX.

const NON_ASCII = /[\u007f-\uffff]/g;

function escapeUnit(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function dumpString(s: string): string {
  // JSON.stringify already escapes quotes, backslashes, controls and lone surrogates.
  return JSON.stringify(s).replace(NON_ASCII, escapeUnit);
}

function dumpNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError('non-finite numbers are not JSON');
  // Python writes exponents with at least two digits (1e-07, not 1e-7).
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
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
