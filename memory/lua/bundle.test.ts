import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSources, SOURCES_FILE } from './bundle.js';

describe('the bundled Lua sources', () => {
  it('are those of the .lua files (run `npm run lua` after editing one)', () => {
    expect(readFileSync(SOURCES_FILE, 'utf8')).toBe(renderSources());
  });
});
