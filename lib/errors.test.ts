import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERRORS, STATUSES, errorTableRows, type ErrorStatus } from './errors.js';

const README = new URL('../README.md', import.meta.url);
const BEGIN = /^( *)<!-- errors: .*-->$/m;
const END = '<!-- /errors -->';
const HEADER = ['status', 'code', 'meaning'];

/** The cells of the README's generated table, rows of trimmed cells (separator row left out). */
function readmeRows(text: string): string[][] {
  const begin = BEGIN.exec(text);
  const end = text.indexOf(END);
  if (!begin || end < begin.index) throw new Error(`README.md has no ${END}-delimited table`);
  return text
    .slice(begin.index, end)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

/** The README with its table regenerated from the catalogue, formatted as `npm run lint` wants. */
async function refreshed(text: string): Promise<string> {
  const begin = BEGIN.exec(text);
  const end = text.indexOf(END);
  if (!begin || end < begin.index) throw new Error('README.md has no error table markers');
  const indent = begin[1] ?? '';
  const row = (cells: string[]) => `${indent}| ${cells.join(' | ')} |`;
  const table = [row(HEADER), row(HEADER.map(() => '-')), ...errorTableRows().map(row)];
  const head = text.slice(0, begin.index + begin[0].length);
  const next = `${head}\n\n${table.join('\n')}\n\n${indent}${text.slice(end)}`;
  const options = await resolveConfig(README.pathname);
  return format(next, { ...options, parser: 'markdown' });
}

describe('error catalogue', () => {
  it('gives every code a snake_case name, a known status, a message and a meaning', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(Object.keys(STATUSES)).toContain(String(spec.status));
      expect(spec.message).not.toBe('');
      expect(spec.meaning).not.toMatch(/\.$/);
    }
  });

  it('lists each status with the codes it answers, and every Redis failure under 503 too', () => {
    for (const status of Object.keys(STATUSES).map(Number) as ErrorStatus[]) {
      expect(ERROR_CODES[status].length, `status ${status}`).toBeGreaterThan(0);
    }
    expect(ERROR_CODES[507]).toEqual(['redis_oom']);
    expect(ERROR_CODES[503]).toEqual(
      expect.arrayContaining(['unavailable', 'redis_auth', 'redis_oom', 'layout_conflict']),
    );
    expect(ERROR_CODES[409]).toEqual(['layout_conflict', 'event_id_conflict', 'session_held']);
  });

  it('holds the codes other modules answer with this round', () => {
    expect(ERRORS.precondition_failed.status).toBe(412);
    expect(ERRORS.forbidden_scope.status).toBe(403);
    expect(ERRORS.too_many_streams.status).toBe(429);
    expect(ERRORS.session_held.status).toBe(409);
  });

  it("is the README's error table (REFRESH_DOCS=1 rewrites the README)", async () => {
    const text = readFileSync(README, 'utf8');
    if (process.env.REFRESH_DOCS === '1') {
      const next = await refreshed(text);
      if (next !== text) writeFileSync(README, next);
    }
    const rows = readmeRows(readFileSync(README, 'utf8'));
    expect(rows).toEqual([HEADER, ...errorTableRows()]);
  });
});
