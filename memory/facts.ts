// Long-term facts without a model: text kept as written (memory v2's `infer:
// false`), found again by the owners it was written with. Keys, under the key
// prefix P (the tenant's), all in one hash slot so each operation is one script:
//   H = P:facts:{P}
//   H:data     hash   fact id -> the fact (JSON)
//   H:all      zset   fact id -> last written (epoch seconds): every fact of the prefix (the group)
//   H:agent:A  zset   the facts agent A wrote      H:user:U     the facts written for user U
//   H:session:S zset  the facts written in session S
//   H:dedupe   hash   sha1(owners, text) -> fact id: the same text by the same owners is one fact
// Bounds: each agent, user and session holds at most `maxPerScope` facts and the
// prefix at most `maxFacts`; past either the oldest fact goes (from every index).
// A fact not written again for `ttlSeconds` is gone: reads skip it and each write
// removes a few such; every key slides to the TTL on a write, so an idle prefix
// leaves nothing behind. Erasing a scope deletes each of its facts everywhere.
import { createHash, randomUUID } from 'node:crypto';
import { TransactionBatcher } from './batch.js';
import { fromMicros, now } from './clock.js';
import type { RedisClient } from './connection.js';
import { keySlot } from './keys.js';
import { scriptCommand, withDeadline, withScript } from './runner.js';

export interface FactLimits {
  keyPrefix: string;
  maxFacts: number;
  maxPerScope: number;
  /** 0: facts never expire. */
  ttlSeconds: number;
  timeoutMs: number;
  minReplicas: number;
  /** The bytes of facts one read returns at most. */
  maxReadBytes: number;
}

/** Who a fact is by and for; a fact is found through each owner it has. */
export interface FactOwners {
  principal?: string | undefined;
  agent?: string | undefined;
  session?: string | undefined;
}

/** An index to read or erase: one owner, or the whole prefix. */
export type FactScope =
  | { kind: 'agent'; agent: string; principal?: string | undefined }
  | { kind: 'user'; principal: string }
  | { kind: 'session'; session: string }
  | { kind: 'group' };

export interface NewFact {
  text: string;
  role: string;
}

/** A fact as upstream's Mem0 returns a result (less `score`, which ranking adds). */
export interface Fact {
  id: string;
  memory: string;
  hash: string;
  created_at: string;
  updated_at: string;
  user_id?: string;
  agent_id?: string;
  role: string;
  metadata: Record<string, string>;
}

/** A fact longer than this is not kept as one (its turn still is, in the session). */
export const MAX_FACT_BYTES = 16 * 1024;
/** Expired facts one write removes at most (the rest go with later writes, or are skipped). */
const SWEEP = 64;
const WAIT_SHARE = 0.75;

// Removes one fact from the data, the dedupe map and every index it is in.
const DELETE_FACT = `
local function index_of(head, kind, owner) return head .. ':' .. kind .. ':' .. owner end
local function digest(f)
  return redis.sha1hex((f.user_id or '') .. '\\0' .. (f.agent_id or '') .. '\\0' ..
    ((f.metadata and f.metadata.kaos_run) or '') .. '\\0' .. f.memory)
end
local function delete_fact(head, data, all, dedupe, id)
  local raw = redis.call('HGET', data, id)
  if raw then
    local ok, f = pcall(cjson.decode, raw)
    if ok and type(f) == 'table' then
      if f.user_id then redis.call('ZREM', index_of(head, 'user', f.user_id), id) end
      if f.agent_id then redis.call('ZREM', index_of(head, 'agent', f.agent_id), id) end
      if f.metadata and f.metadata.kaos_run then
        redis.call('ZREM', index_of(head, 'session', f.metadata.kaos_run), id)
      end
      if type(f.memory) == 'string' and redis.call('HGET', dedupe, digest(f)) == id then
        redis.call('HDEL', dedupe, digest(f))
      end
    end
    redis.call('HDEL', data, id)
  end
  redis.call('ZREM', all, id)
  return raw and 1 or 0
end
`;

/**
 * Stores facts, or refreshes the same text by the same owners.
 * KEYS[1] data  KEYS[2] all  KEYS[3] dedupe
 * ARGV[1] head  ARGV[2] now (epoch s)  ARGV[3] ttl (s, 0 none)  ARGV[4] max facts
 * ARGV[5] max per scope  ARGV[6] owner index suffixes, comma-free list joined by \\n
 * ARGV[7…] pairs: new fact id, fact JSON
 * Returns the stored ids, in order (an existing id where the fact was refreshed).
 */
const WRITE_FACTS = `${DELETE_FACT}
local data, all, dedupe = KEYS[1], KEYS[2], KEYS[3]
local head, t, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local maxAll, maxScope = tonumber(ARGV[4]), tonumber(ARGV[5])
for _, k in ipairs({data, all, dedupe}) do
  local kt = redis.call('TYPE', k).ok
  local want = (k == all) and 'zset' or 'hash'
  if kt ~= 'none' and kt ~= want then return redis.error_reply('kaos-layout: ' .. k .. ' holds a ' .. kt .. ', not a ' .. want) end
end
local indexes = {}
for suffix in string.gmatch(ARGV[6], '[^\\n]+') do
  local k = head .. ':' .. suffix
  local kt = redis.call('TYPE', k).ok
  if kt ~= 'none' and kt ~= 'zset' then return redis.error_reply('kaos-layout: ' .. k .. ' holds a ' .. kt .. ', not a zset') end
  indexes[#indexes + 1] = k
end
local ids = {}
for i = 7, #ARGV, 2 do
  local id, raw = ARGV[i], ARGV[i + 1]
  local d = digest(cjson.decode(raw))
  local existing = redis.call('HGET', dedupe, d)
  if existing and redis.call('HEXISTS', data, existing) == 1 then
    id = existing
  else
    redis.call('HSET', data, id, raw)
    redis.call('HSET', dedupe, d, id)
  end
  redis.call('ZADD', all, t, id)
  for _, k in ipairs(indexes) do redis.call('ZADD', k, t, id) end
  ids[#ids + 1] = id
end
for _, k in ipairs(indexes) do
  while redis.call('ZCARD', k) > maxScope do
    local oldest = redis.call('ZRANGE', k, 0, 0)[1]
    delete_fact(head, data, all, dedupe, oldest)
    redis.call('ZREM', k, oldest)
  end
end
while redis.call('ZCARD', all) > maxAll do
  delete_fact(head, data, all, dedupe, redis.call('ZRANGE', all, 0, 0)[1])
end
if ttl > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', all, '-inf', '(' .. (t - ttl), 'LIMIT', 0, ${SWEEP})) do
    delete_fact(head, data, all, dedupe, id)
  end
  for _, k in ipairs({data, all, dedupe}) do redis.call('EXPIRE', k, ttl) end
  for _, k in ipairs(indexes) do redis.call('EXPIRE', k, ttl) end
end
return ids
`;

/**
 * The newest facts of one index written since a moment, within a byte budget.
 * KEYS[1] index  KEYS[2] data
 * ARGV[1] oldest score kept  ARGV[2] max count  ARGV[3] max bytes  ARGV[4] user_id required ('' any)
 * Returns {id, JSON, score} triples, newest first.
 */
const READ_FACTS = `
local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out, bytes, budget = {}, 0, tonumber(ARGV[3])
for i = 1, #rows, 2 do
  local raw = redis.call('HGET', KEYS[2], rows[i])
  if raw then
    local keep = true
    if ARGV[4] ~= '' then
      local ok, f = pcall(cjson.decode, raw)
      keep = ok and type(f) == 'table' and f.user_id == ARGV[4]
    end
    if keep then
      if bytes + #raw > budget then break end
      bytes = bytes + #raw
      out[#out + 1] = {rows[i], raw, rows[i + 1]}
    end
  end
end
return out
`;

/**
 * Deletes every fact of one index (those of one user only, when ARGV[2] names one).
 * KEYS[1] index  KEYS[2] data  KEYS[3] all  KEYS[4] dedupe
 * ARGV[1] head  ARGV[2] user_id required ('' any)
 * Returns how many facts were deleted.
 */
const ERASE_FACTS = `${DELETE_FACT}
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local keep = false
  if ARGV[2] ~= '' then
    local raw = redis.call('HGET', KEYS[2], id)
    local ok, f = pcall(cjson.decode, raw or 'null')
    keep = not (ok and type(f) == 'table' and f.user_id == ARGV[2])
  end
  if not keep then
    n = n + delete_fact(ARGV[1], KEYS[2], KEYS[3], KEYS[4], id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return n
`;

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const SCRIPTS = {
  write: new Script(WRITE_FACTS),
  read: new Script(READ_FACTS),
  erase: new Script(ERASE_FACTS),
};

export class FactStore {
  private readonly head: string;
  private readonly slot: number;
  private readonly batcher: TransactionBatcher;

  constructor(
    private readonly redis: RedisClient,
    private readonly limits: FactLimits,
  ) {
    this.head = `${limits.keyPrefix}:facts:{${limits.keyPrefix}}`;
    this.slot = redis.isCluster ? keySlot(this.head) : 0;
    this.batcher = new TransactionBatcher(redis, {
      minReplicas: limits.minReplicas,
      waitMs: Math.floor(limits.timeoutMs * WAIT_SHARE),
    });
  }

  /** The keys of this prefix's facts (for tests and operators). */
  key(suffix: 'data' | 'all' | 'dedupe' | `${'agent' | 'user' | 'session'}:${string}`): string {
    return `${this.head}:${suffix}`;
  }

  /**
   * Keeps each text as a fact of its owners (one MULTI/EXEC); returns their ids. A
   * text over MAX_FACT_BYTES is left out (its id is undefined).
   */
  async write(owners: FactOwners, facts: readonly NewFact[]): Promise<(string | undefined)[]> {
    const kept = facts.filter((f) => Buffer.byteLength(f.text) <= MAX_FACT_BYTES);
    if (kept.length === 0) return facts.map(() => undefined);
    const t = now();
    const args: string[] = [
      this.head,
      String(t.score),
      String(this.limits.ttlSeconds),
      String(this.limits.maxFacts),
      String(this.limits.maxPerScope),
      ownerIndexes(owners).join('\n'),
    ];
    for (const f of kept) {
      const id = randomUUID();
      args.push(id, JSON.stringify(storedFact(id, f, owners, t.iso, this.limits.keyPrefix)));
    }
    const keys = [this.key('data'), this.key('all'), this.key('dedupe')];
    const ids = (await this.transact(SCRIPTS.write, keys, args)) as string[];
    let at = 0;
    return facts.map((f) => (Buffer.byteLength(f.text) <= MAX_FACT_BYTES ? ids[at++] : undefined));
  }

  /** The newest facts of a scope (at most `limit`, within the read budget), newest first. */
  async read(scope: FactScope, limit: number): Promise<Fact[]> {
    const oldest =
      this.limits.ttlSeconds > 0 ? String(now().score - this.limits.ttlSeconds) : '-inf';
    const rows = (await this.deadline(
      this.evalScript(
        SCRIPTS.read,
        [this.indexOf(scope), this.key('data')],
        [oldest, String(limit), String(this.limits.maxReadBytes), userFilter(scope)],
      ),
    )) as [string, string, string][];
    const facts: Fact[] = [];
    for (const [, raw, score] of rows) {
      const fact = decodeFact(raw, Number(score));
      if (fact) facts.push(fact);
    }
    return facts;
  }

  /** Deletes every fact of a scope, from every index; resolves with how many. */
  async erase(scope: FactScope): Promise<number> {
    const keys = [this.indexOf(scope), this.key('data'), this.key('all'), this.key('dedupe')];
    return Number(await this.transact(SCRIPTS.erase, keys, [this.head, userFilter(scope)]));
  }

  private indexOf(scope: FactScope): string {
    switch (scope.kind) {
      case 'agent':
        return this.key(`agent:${scope.agent}`);
      case 'user':
        return this.key(`user:${scope.principal}`);
      case 'session':
        return this.key(`session:${scope.session}`);
      case 'group':
        return this.key('all');
    }
  }

  private async transact(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const [reply] = await withScript((useSha) =>
      this.deadline(
        this.batcher.run(this.slot, (tx) => tx.call(...scriptCommand(useSha, script, keys, args))),
      ),
    );
    return reply;
  }

  private evalScript(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return withScript((useSha) =>
      useSha
        ? this.redis.evalsha(script.sha, keys.length, ...keys, ...args)
        : this.redis.eval(script.lua, keys.length, ...keys, ...args),
    );
  }

  /** Every call under the store's one deadline (memory/runner.ts). */
  private deadline<T>(promise: Promise<T>): Promise<T> {
    return withDeadline(promise, this.limits.timeoutMs);
  }
}

/** The index suffixes a fact of these owners is listed under. */
function ownerIndexes(owners: FactOwners): string[] {
  const out: string[] = [];
  if (owners.agent !== undefined) out.push(`agent:${owners.agent}`);
  if (owners.principal !== undefined) out.push(`user:${owners.principal}`);
  if (owners.session !== undefined) out.push(`session:${owners.session}`);
  return out;
}

function userFilter(scope: FactScope): string {
  return scope.kind === 'agent' ? (scope.principal ?? '') : '';
}

/** As stored: Mem0's result shape less `updated_at` (the index score) and `score`. */
function storedFact(id: string, f: NewFact, owners: FactOwners, createdAt: string, group: string) {
  const metadata: Record<string, string> = { kaos_group: group };
  if (owners.session !== undefined) metadata.kaos_run = owners.session;
  return {
    id,
    memory: f.text,
    hash: createHash('md5').update(f.text).digest('hex'),
    created_at: createdAt,
    ...(owners.principal !== undefined ? { user_id: owners.principal } : {}),
    ...(owners.agent !== undefined ? { agent_id: owners.agent } : {}),
    role: f.role,
    metadata,
  };
}

function decodeFact(raw: string, score: number): Fact | undefined {
  try {
    const f = JSON.parse(raw) as Omit<Fact, 'updated_at'>;
    if (typeof f.memory !== 'string') return undefined;
    const updated = fromMicros(Math.round(score * 1_000_000)).iso;
    return {
      id: f.id,
      memory: f.memory,
      hash: f.hash,
      created_at: f.created_at,
      updated_at: updated,
      ...(f.user_id !== undefined ? { user_id: f.user_id } : {}),
      ...(f.agent_id !== undefined ? { agent_id: f.agent_id } : {}),
      role: f.role,
      metadata: f.metadata,
    };
  } catch {
    return undefined;
  }
}
