// Every Redis key the store touches is named here.
//
// One Redis and Sentinel: KAOS RedisMemory's layout, byte for byte:
//   P:session:S (hash)  P:events:S (list)  P:sessions (sorted set, the index)
// and beside it the sidecar's own keys, which KAOS ignores (docs/decisions.md,
// "Bounded work per request"): P:meta:S (hash), P:ids:S (sorted set), P:types:S,
// P:pinned:S, P:digests:S (lists), P:erased:S (hash, the erasure tombstone), and
// per index P:holds (sorted set of held sessions).
//
// Redis Cluster: a write must stay one transaction, so a session's keys and the
// index entry it updates share a hash slot. Sessions are spread over BUCKETS
// indexes, one per range of the slot space; bucket b's keys carry the hash tag
// {T_b}, a string whose own slot lies in range b, so the buckets spread over the
// masters as the slots do:
//   P:{T_b}:session:S  P:{T_b}:events:S  P:{T_b}:sessions  (P:{T_b}:meta:S, …)
// where b is the range of S's own slot. docs/decisions.md ("Sessions on Redis
// Cluster") has the design and its guarantees.

/** Index buckets on Redis Cluster. Part of the stored layout: changing it orphans data. */
const CLUSTER_BUCKETS = 64;
const SLOTS = 16384;

/** The parts of a session: its key is the index's head for the part, then the session id. */
export const SESSION_PARTS = [
  'session',
  'events',
  'meta',
  'ids',
  'types',
  'pinned',
  'digests',
  'erased',
] as const;
export type SessionPart = (typeof SESSION_PARTS)[number];

export type SessionKeys = Record<SessionPart, string> & {
  /** The index this session is listed in. */
  index: string;
  /** The held sessions of that index. */
  holds: string;
};

/** Key heads of one index: a session's keys are head + session id (for the scripts). */
export type IndexHeads = Record<SessionPart, string> & {
  index: string;
  holds: string;
  /** A key in the index's slot that never exists: the readiness probe's LPUSHX target. */
  probe: string;
  /** The part heads as JSON, for scripts that reach sessions other than their own. */
  json: string;
};

export class Keys {
  /** The tag of each bucket, or a single untagged "bucket" outside Cluster. */
  private readonly heads: IndexHeads[];

  constructor(
    readonly prefix: string,
    readonly clustered = false,
  ) {
    this.heads = clustered
      ? bucketTags().map((tag) => headsOf(`${prefix}:{${tag}}`))
      : [headsOf(prefix)];
  }

  /** Every index, in bucket order (one outside Cluster). */
  get indexes(): readonly IndexHeads[] {
    return this.heads;
  }

  /** The index, session and events keys of one session. */
  forSession(sessionId: string): SessionKeys {
    const heads = this.headsFor(sessionId);
    const keys = { index: heads.index, holds: heads.holds } as SessionKeys;
    for (const part of SESSION_PARTS) keys[part] = heads[part] + sessionId;
    return keys;
  }

  /** The heads of the index `sessionId` belongs to. */
  headsFor(sessionId: string): IndexHeads {
    if (!this.clustered) return this.heads[0] as IndexHeads;
    return this.heads[Math.floor((keySlot(sessionId) * CLUSTER_BUCKETS) / SLOTS)] as IndexHeads;
  }
}

function headsOf(base: string): IndexHeads {
  const parts = Object.fromEntries(SESSION_PARTS.map((part) => [part, `${base}:${part}:`]));
  return {
    ...(parts as Record<SessionPart, string>),
    index: `${base}:sessions`,
    holds: `${base}:holds`,
    probe: `${base}:readyz`,
    json: JSON.stringify(parts),
  };
}

let tags: string[] | undefined;

/** For each bucket b, the first of "0", "1", … whose slot lies in b's range. */
function bucketTags(): string[] {
  if (tags) return tags;
  const found: (string | undefined)[] = new Array<string | undefined>(CLUSTER_BUCKETS);
  let missing = CLUSTER_BUCKETS;
  for (let n = 0; missing > 0; n++) {
    const tag = String(n);
    const bucket = Math.floor((keySlot(tag) * CLUSTER_BUCKETS) / SLOTS);
    if (found[bucket] === undefined) {
      found[bucket] = tag;
      missing--;
    }
  }
  tags = found as string[];
  return tags;
}

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag or of the whole key. */
export function keySlot(key: string): number {
  let data = Buffer.from(key);
  const open = data.indexOf(0x7b); // {
  if (open >= 0) {
    const close = data.indexOf(0x7d, open + 1); // }
    if (close > open + 1) data = data.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}
