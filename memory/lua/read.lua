-- The newest events before a position, newest first, read-only: what fits in a
-- page (count and bytes), within the call's budget. With types, the index picks
-- the positions to read (their type tokens), so a filter reads only what it keeps;
-- otherwise, and where the index does not cover yet, entries are read in runs (one
-- LRANGE each) and checked one by one. Entries larger than the largest allowed are
-- passed over and counted.
--
-- @key session      hash: the session's five fields
-- @key events       list: its events
-- @key meta         hash: what the index covers
-- @key ids          zset: event id -> position
-- @key types        list: the type token of each indexed position
-- @key pinned       list: copies of pinned events
-- @key digests      list: copies of digests
-- @arg before       read the entries before this position ("" for the newest)
-- @arg beforeId     the event_id at that position ("" when unknown)
-- @arg maxCount     entries returned at most
-- @arg maxBytes     bytes returned at most
-- @arg pageStarted  1 when the page already holds entries (else the first is returned whatever its size)
-- @arg maxEntry     the largest entry returned
-- @arg types        event types as JSON tokens, one per line ("" for all)
-- @arg copies       1 to also return the copies: the pinned events (newest first, within
--   maxBytes) and the newest digest, and whether they are all the session has (the
--   index covers the list and indexed no entry the sidecar did not copy, no copy was
--   trimmed, all fit): then a reader may stop before the oldest event
-- @return entries (position, entry, position, entry…: one flat list, newest first; a
--   list of pairs cost Redis ~10 µs more for 20), oversized (entries passed over),
--   next ({position, event_id or ""} to read before, or {} at the oldest), full 0|1 (the page's
--   bytes are reached), gone 0|1 (the cursor's event is no longer stored), stale 0|1 (the index
--   is behind the list), drift 0|1 (the index pointed at another entry), tag (the session's,
--   or false when it does not exist), and with copies: pinned (entries, newest first), digest
--   (an entry, or false), copied 0|1 (they are all there is)
--!include budget.lua
--!include entry.lua
--!include session.lua
local budget = newBudget()
local created = redis.call('HGET', K.session, 'created_at')
local v = view(K, budget, created or '')
local tag = created and tagOf(created, v.llen, v.tail) or false
local maxCount, maxBytes, maxEntry = tonumber(A.maxCount), tonumber(A.maxBytes), tonumber(A.maxEntry)

-- The copies first (within maxBytes of their own): they are few, and a reader needs them all.
local copies = nil
if A.copies == '1' and created then
  local bytes = 0
  copies = {pinned = {}, digest = false, copied = 1}
  local length = redis.call('LLEN', K.pinned)
  if v.stale or v.meta.uncopied or length >= PINNED_MAX then copies.copied = 0 end
  for i = length - 1, 0, -1 do
    if spent(budget) then
      copies.copied = 0
      break
    end
    local item = redis.call('LINDEX', K.pinned, i)
    spend(budget, item)
    if #item > maxEntry or bytes + #item > maxBytes then
      copies.copied = 0
      break
    end
    copies.pinned[#copies.pinned + 1] = item
    bytes = bytes + #item
  end
  local digest = redis.call('LINDEX', K.digests, -1)
  if digest then
    spend(budget, digest)
    if #digest <= maxEntry then copies.digest = digest else copies.copied = 0 end
  end
end

local function reply(entries, oversized, nextCursor, full, gone, drift)
  local r = {'entries', entries, 'oversized', oversized, 'next', nextCursor, 'full', full,
    'gone', gone, 'stale', v.stale and 1 or 0, 'drift', drift and 1 or 0, 'tag', tag}
  if copies then
    for _, x in ipairs({'pinned', copies.pinned, 'digest', copies.digest, 'copied', copies.copied}) do
      r[#r + 1] = x
    end
  end
  return r
end

-- Where the cursor's event is now: positions stay put; a rebuilt index renumbers them.
local upper = v.total
if A.before ~= '' then
  upper = math.min(tonumber(A.before), v.total)
  local id = A.beforeId
  if id ~= '' and upper >= v.base then
    local item = upper >= v.freshLo and v.fresh[v.total - upper]
    if not item and upper < v.total then
      local indexed = v.idxLo < v.idxHi and redis.call('ZSCORE', K.ids, id)
      if not (indexed and tonumber(indexed) == upper) then item = entryAt(K, v, upper, budget) end
    end
    local info = item and entryInfo(item)
    if item and (not info or info.id ~= id) then
      upper = positionOf(K, v, id, budget)
      if not upper then return reply({}, 0, {}, 0, 1, v.drift) end
    end
  end
end

local wanted = nil
if A.types ~= '' then
  wanted = {}
  for t in string.gmatch(A.types, '[^\n]+') do wanted[t] = true end
end
local pageStarted = A.pageStarted == '1'
local out, taken, bytes, oversized, full, drift = {}, 0, 0, 0, 0, false
-- Positions from `low` up are done; lowId is the event there when known, or else
-- lowItem is its entry, whose head is read once, at the end (most entries are
-- returned without it).
local low, lowId, lowItem = upper, '', nil

-- Takes the entry at `pos` into the page, or passes over it; false when the page is full.
local function consider(pos, item, token)
  if not item then
    low = pos
    return true
  end
  if #item > maxEntry then
    oversized = oversized + 1
  else
    local head = (wanted or token) and entryHead(item)
    if token and token ~= '?' and (not head or head.typeToken ~= token) then drift = true end
    if not wanted or not head or wanted[head.typeToken] then
      if (taken > 0 or pageStarted) and bytes + #item > maxBytes then
        full = 1
        return false
      end
      out[2 * taken + 1], out[2 * taken + 2] = pos, item
      taken = taken + 1
      bytes = bytes + #item
    end
    if head then lowId, lowItem = head.id, nil else lowId, lowItem = nil, item end
  end
  low = pos
  return true
end

local p, run = upper - 1, 0
while p >= v.base and taken < maxCount and full == 0 and not spent(budget) do
  if wanted and p >= v.idxLo and p < v.idxHi then
    local lo = math.max(v.idxLo, p - 127)
    local tokens = redis.call('LRANGE', K.types, lo - v.typesFrom, p - v.typesFrom)
    local pos = p
    while pos >= lo and taken < maxCount and full == 0 and not spent(budget) do
      local token = tokens[pos - lo + 1]
      if token == '?' or wanted[token] then
        if not consider(pos, entryAt(K, v, pos, budget), token) then break end
      else
        low, lowId, lowItem = pos, '', nil
      end
      pos = pos - 1
    end
    p = low - 1
  else
    -- A run of positions read with one command, as many as the page may still take,
    -- then taken one by one as before: the budget is spent on each as it is taken.
    run = runLength(budget, run, maxCount - taken, maxBytes - bytes)
    local lo = math.max(v.base, p - run + 1)
    local items = entriesAt(K, v, lo, p)
    local pos = p
    while pos >= lo and (pos == p or not spent(budget)) do
      local item = items[pos - lo + 1]
      if item and pos < v.freshLo then spend(budget, item) end
      if not consider(pos, item) then break end
      pos = pos - 1
    end
    if pos >= lo then break end
    p = lo - 1
  end
end
if lowItem then
  local head = entryHead(lowItem)
  lowId = head and head.id or ''
end
local nextCursor = {}
if low > v.base then nextCursor = {low, lowId} end
return reply(out, oversized, nextCursor, full, 0, drift or v.drift)
