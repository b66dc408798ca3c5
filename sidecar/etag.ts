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

/** The ETag a session read or write answers with, for the route table. */
export const ETAG = {
  description:
    "The session's tag: it changes with every append (one written straight to Redis included). " +
    'Send it back as `If-Match` to append only if nothing changed since.',
  schema: { type: 'string', pattern: '^"[0-9]+-[0-9a-f]{16}"$' },
};

/** ETAG, on an answer that has none when the session does not exist. */
export const ETAG_IF_EXISTS = { ...ETAG, required: false };

/** The ETag header of `tag`, or none without one. */
export function etagHeader(tag: string | undefined): Record<string, string> {
  return tag === undefined ? {} : { etag: formatEtag(tag) };
}

/** The If-Match request header, for the route table. */
export const IF_MATCH = {
  description:
    'Append only if the session is at one of these tags (`ETag` of a read or write); `*`: only if it exists. ' +
    'Otherwise 412 `precondition_failed` with the current `ETag`, and nothing is stored.',
  schema: { type: 'string' },
};
