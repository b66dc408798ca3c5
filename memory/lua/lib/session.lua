-- A session's keys beside the Redis-era two (docs/decisions.md, "Bounded work per
-- request"): meta (hash: what the index covers, the sequence, the hold, the digest
-- version), ids (zset: event id -> position of its newest entry), types (list: the
-- type token of each indexed position, oldest first), pinned and digests (lists of
-- copies), erased (the erasure tombstone). A position numbers every entry ever
-- indexed: list index i holds position base + i, and trimming moves base up.

-- Every key of a session that shares its TTL (the tombstone keeps its own).
local SESSION_PARTS = {'session', 'events', 'meta', 'ids', 'types', 'pinned', 'digests'}
local PINNED_MAX, DIGESTS_MAX = 50, 20

-- The keys of session `sid` from the heads keys.ts computed (scripts over many sessions).
local function sessionKeys(H, sid)
  local S = {erased = H.erased .. sid}
  for _, part in ipairs(SESSION_PARTS) do S[part] = H[part] .. sid end
  return S
end

local function loadMeta(S)
  local m = redis.call('HMGET', S.meta, 'total', 'len', 'tail', 'created', 'from', 'seq', 'hold', 'digests', 'drift', 'uncopied')
  return {
    total = tonumber(m[1]), len = tonumber(m[2]), tail = m[3] or '', created = m[4] or '',
    from = tonumber(m[5]), seq = tonumber(m[6]) or 0, hold = m[7] or nil,
    digests = tonumber(m[8]) or 0, drift = m[9] ~= false, uncopied = m[10] ~= false,
  }
end

-- The session's ETag: it changes with any append (a Python RPUSH at the cap too,
-- which leaves the length as it was) and when the session is created again.
local function tagOf(created, llen, tail)
  return llen .. '-' .. string.sub(redis.sha1hex(created .. '\n' .. tail), 1, 16)
end

-- Where the list stands against the index, read-only; `created` is the session's
-- created_at ('' when it has none). v.total is the position after the newest entry
-- and v.base that of list index 0. v.fresh holds the entries newer than the index
-- (written straight to Redis since the sidecar last indexed), newest first, at
-- positions from v.freshLo up; [v.idxLo, v.idxHi) is indexed (types from position
-- v.typesFrom); [v.base, v.lowest) is not. v.reset: the index does not describe this
-- list (none yet, another session under the same id, or more appended than the walk
-- could look through) and is rebuilt from the fresh entries, at positions after the
-- old ones. v.stale: there is something to write to the index.
local function view(S, budget, created)
  local v = {llen = redis.call('LLEN', S.events), created = created, fresh = {}, tail = ''}
  local m = loadMeta(S)
  v.meta = m
  local item = nil
  if v.llen > 0 then
    item = redis.call('LINDEX', S.events, -1)
    spend(budget, item)
    v.tail = signature(item)
  end
  local known = m.total ~= nil and m.from ~= nil and m.created == created and not m.drift
  local n, found = 0, false
  if known and m.len == v.llen and m.tail == v.tail then
    found = true
  elseif v.llen > 0 then
    while true do
      -- The old tail can only be where at most m.len entries are left below it.
      if known and v.llen - n <= m.len and signature(item) == m.tail then
        found = true
        break
      end
      n = n + 1
      v.fresh[n] = item
      if n >= v.llen or spent(budget) then break end
      item = redis.call('LINDEX', S.events, -1 - n)
      spend(budget, item)
    end
  end
  if found then
    v.total = m.total + n
    v.base = v.total - v.llen
    v.freshLo, v.typesFrom, v.from = m.total, m.from, m.from
    v.idxLo, v.idxHi = math.max(m.from, v.base), m.total
  else
    v.reset = true
    v.total = (m.total or 0) + v.llen
    v.base = v.total - v.llen
    v.freshLo = v.total - n
    v.from = v.freshLo
    v.idxLo, v.idxHi = v.freshLo, v.freshLo
  end
  v.lowest = math.min(v.idxLo, v.freshLo)
  v.stale = v.reset or n > 0 or v.lowest > v.base
  return v
end

-- Positions below `base` (trimmed) leave the index; returns the lowest indexed.
local function trimIndex(S, from, base)
  if from < base then
    redis.call('LTRIM', S.types, base - from, -1)
    from = base
  end
  redis.call('ZREMRANGEBYSCORE', S.ids, '-inf', '(' .. base)
  return from
end

-- Indexes one entry at `pos`; `push` is RPUSH (newer) or LPUSH (older). Entries
-- indexed here were not appended by the sidecar, so a pinned event or a digest among
-- them has no copy: the session's copies are then no longer all there is (meta
-- uncopied). Told by a plain search, so content that merely says so counts too.
local function indexEntry(S, pos, item, push)
  local info = entryInfo(item)
  if info then redis.call('ZADD', S.ids, 'GT', pos, info.id) end
  local token = info and info.typeToken or '?'
  redis.call(push, S.types, token)
  if token == '"summary"' or token == '?' or string.find(item, '"pinned":%s*true') then
    redis.call('HSET', S.meta, 'uncopied', 1)
  end
end

-- Brings the index up to the list as `v` saw it, then fills it in backwards within
-- the budget (after a reset, or for a session written before the index existed).
local function sync(S, v, budget)
  if not v.stale then return end
  local m = v.meta
  if v.reset then
    redis.call('DEL', S.ids, S.types)
    if m.total ~= nil and m.created ~= v.created then
      -- Another session under the same id: its own pinned events, digests and sequence.
      redis.call('DEL', S.pinned, S.digests)
      m.seq, m.digests = 0, 0
      redis.call('HSET', S.meta, 'seq', 0, 'digests', 0)
      redis.call('HDEL', S.meta, 'uncopied')
    end
  end
  for k = #v.fresh, 1, -1 do indexEntry(S, v.total - k, v.fresh[k], 'RPUSH') end
  local from = trimIndex(S, v.reset and v.freshLo or m.from, v.base)
  while from > v.base and not spent(budget) do
    local item = redis.call('LINDEX', S.events, from - 1 - v.base)
    spend(budget, item)
    indexEntry(S, from - 1, item, 'LPUSH')
    from = from - 1
  end
  v.from, v.reset, v.fresh = from, false, {}
  v.freshLo, v.typesFrom, v.idxLo, v.idxHi, v.lowest = v.total, from, from, v.total, from
  v.stale = from > v.base
  redis.call('HSET', S.meta, 'total', v.total, 'len', v.llen, 'tail', v.tail, 'created', v.created, 'from', from)
  if m.drift then redis.call('HDEL', S.meta, 'drift') end
end

-- Appends entries (oldest first) after a sync, indexes them and trims the list to
-- maxEvents; returns the position of the first. `heads` are the entries' heads when
-- the caller has them (else each is read here); `fields` are more meta fields to set
-- with the index's (one HSET).
local function pushEntries(S, v, items, maxEvents, heads, fields)
  local first = v.total
  local tokens, scores = {}, {}
  local info = nil
  for k, item in ipairs(items) do
    info = heads and heads[k] or entryInfo(item)
    scores[#scores + 1], scores[#scores + 2] = first + k - 1, info.id
    tokens[k] = info.typeToken
  end
  redis.call('ZADD', S.ids, 'GT', unpack(scores))
  redis.call('RPUSH', S.events, unpack(items))
  redis.call('RPUSH', S.types, unpack(tokens))
  redis.call('LTRIM', S.events, -maxEvents, -1)
  v.total = first + #items
  v.llen = math.min(v.llen + #items, maxEvents)
  v.base = v.total - v.llen
  -- The index holds positions from v.from up: only a base past it leaves anything to trim.
  if v.from < v.base then v.from = trimIndex(S, v.from, v.base) end
  -- signature(items[#items]), from the head already read
  v.tail = #items[#items] .. ':' .. info.idToken
  local set = {'total', v.total, 'len', v.llen, 'tail', v.tail, 'from', v.from}
  for _, x in ipairs(fields or {}) do set[#set + 1] = x end
  redis.call('HSET', S.meta, unpack(set))
  return first
end

-- The entry at position `pos`, from the fresh entries or the list.
local function entryAt(S, v, pos, budget)
  if pos >= v.freshLo then return v.fresh[v.total - pos] end
  local item = redis.call('LINDEX', S.events, pos - v.base)
  if item then spend(budget, item) end
  return item or nil
end

-- The entries at positions lo..hi, indexed from 1 at lo: the fresh ones from `v`,
-- the others with one LRANGE. The caller spends the budget on those it uses
-- (positions below v.freshLo: the fresh ones were spent when `v` read them).
local function entriesAt(S, v, lo, hi)
  local items = {}
  local listHi = math.min(hi, v.freshLo - 1)
  if lo <= listHi then items = redis.call('LRANGE', S.events, lo - v.base, listHi - v.base) end
  for pos = math.max(lo, v.freshLo), hi do items[pos - lo + 1] = v.fresh[v.total - pos] end
  return items
end

-- Where the newest entry of event `id` is, or nil; checks that the entry there is
-- that event. `drift` is set when the index pointed at another entry.
local function positionOf(S, v, id, budget)
  for k, item in ipairs(v.fresh) do
    local info = entryInfo(item)
    if info and info.id == id then return v.total - k, item end
  end
  if v.idxLo >= v.idxHi then return nil end
  local pos = redis.call('ZSCORE', S.ids, id)
  pos = pos and tonumber(pos)
  if not pos or pos < v.idxLo or pos >= v.idxHi then return nil end
  local item = entryAt(S, v, pos, budget)
  local info = item and entryInfo(item)
  if not info or info.id ~= id then
    v.drift = true
    return nil
  end
  return pos, item
end

-- Events a reader returns: each id once (as KAOS's reader and the sidecar show them),
-- entries no reader returns left out. Exact over what the index and the fresh entries
-- cover; entries below them (not indexed yet) are counted as stored.
local function countOf(S, v)
  local count = 0
  if v.idxLo < v.idxHi then count = redis.call('ZCOUNT', S.ids, v.base, '+inf') end
  local seen = {}
  for _, item in ipairs(v.fresh) do
    local info = entryInfo(item)
    if info and not seen[info.id] then
      seen[info.id] = true
      local pos = v.idxLo < v.idxHi and redis.call('ZSCORE', S.ids, info.id)
      if not pos or tonumber(pos) < v.base then count = count + 1 end
    end
  end
  return count + (v.lowest - v.base)
end

-- The sliding TTL on every key of the session, or none while it is held.
local function touch(S, ttl, held)
  for _, part in ipairs(SESSION_PARTS) do
    if held then redis.call('PERSIST', S[part]) else redis.call('EXPIRE', S[part], ttl) end
  end
end

-- The index keys and the copies live as long as the list they describe (none while
-- it is held): another writer's appends keep the list alive, and the copies must not
-- expire before the meta that says whether they are all there is.
local FOLLOWERS = {'meta', 'ids', 'types', 'pinned', 'digests'}
local function followTtl(S)
  if redis.call('HEXISTS', S.meta, 'hold') == 1 then
    for _, part in ipairs(FOLLOWERS) do redis.call('PERSIST', S[part]) end
    return
  end
  local ttl = redis.call('PTTL', S.events)
  if ttl > 0 then
    for _, part in ipairs(FOLLOWERS) do redis.call('PEXPIRE', S[part], ttl) end
  end
end

local function deleteSession(S)
  return redis.call('DEL', S.session, S.events, S.meta, S.ids, S.types, S.pinned, S.digests)
end

-- What the sidecar keeps beside a session whose hash is gone (expired, or deleted by
-- another writer): held keys have no TTL, so they would stay forever.
local function deleteLeftovers(S)
  redis.call('DEL', S.meta, S.ids, S.types, S.pinned, S.digests)
end

-- Creates the session hash. A session erased by user comes back under the owner it
-- was erased for (its tombstone), never under another.
local function createSession(S, sid, userId, appName, nowIso)
  local owner = redis.call('HMGET', S.erased, 'user_id', 'app_name')
  if owner[1] then userId, appName = owner[1], owner[2] or appName end
  redis.call('HSET', S.session, 'session_id', sid, 'user_id', userId, 'app_name', appName,
    'created_at', nowIso, 'updated_at', nowIso)
end
