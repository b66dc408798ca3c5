// A session's tag (memory/store.ts) as HTTP carries it: the ETag header's quoted
// string, and the If-Match / If-None-Match lists a client sends back.

/** The ETag header of a session tag: a strong entity tag. */
export function formatEtag(tag: string): string {
  return `"${tag}"`;
}

/**
 * The tags of an If-Match or If-None-Match header: `*` alone, or the quoted tags
 * (a weak W/ prefix is dropped: a session's tag is exact either way). Undefined
 * when the header is absent.
 */
export function parseEtags(header: string | string[] | undefined): '*' | string[] | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return '*';
  const tags: string[] = [];
  for (const m of text.matchAll(/(?:W\/)?"([^"]*)"/g)) tags.push(m[1] as string);
  return tags;
}
