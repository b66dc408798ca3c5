// The text upstream's runtime injects into the agent's system context, built as
// upstream's service builds it (kaos_memory/app.py, assemble_block): long-term
// facts only, one line each; the window and the digest are replayed apart from it.
// Deterministic: the same facts in the same order give the same bytes.

/** A fact's text, as upstream reads a Mem0 result: `memory`, else `text`, else none. */
export function factText(fact: { memory?: unknown; text?: unknown }): string {
  const text = fact.memory || fact.text;
  return typeof text === 'string' ? text : '';
}

export function assembleBlock(facts: readonly { memory?: unknown; text?: unknown }[]): string {
  const lines = facts.map(factText).filter((t) => t !== '');
  if (lines.length === 0) return '';
  return `## Relevant memory\n${lines.map((t) => `- ${t}`).join('\n')}`;
}
