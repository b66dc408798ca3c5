import { describe, expect, it } from 'vitest';
import { assembleBlock } from './block.js';

// Expected strings as upstream's assemble_block builds them: a heading, then one
// "- " line per fact with text, joined by newlines, no trailing newline.
describe('the injected block', () => {
  it('is empty without facts, or with facts that have no text', () => {
    expect(assembleBlock([])).toBe('');
    expect(assembleBlock([{ memory: '' }, { text: '' }, {}])).toBe('');
  });

  it('lists each fact with text, in order, byte for byte', () => {
    const block = assembleBlock([
      { memory: 'the cluster runs in eu-west-1' },
      { memory: '' },
      { text: 'Grüße: prefers tea 🍵' },
      { memory: 'line one\nline two' },
    ]);
    expect(block).toBe(
      '## Relevant memory\n- the cluster runs in eu-west-1\n- Grüße: prefers tea 🍵\n- line one\nline two',
    );
  });

  it('reads `memory` before `text`, as a Mem0 result is read', () => {
    expect(assembleBlock([{ memory: 'm', text: 't' }])).toBe('## Relevant memory\n- m');
    expect(assembleBlock([{ memory: '', text: 't' }])).toBe('## Relevant memory\n- t');
  });
});
