-- The events after one, oldest first, read-only: how a stream resumes
-- (Last-Event-ID), entries written straight to Redis included. Bounded by the
-- page's bytes and the call's budget; `more` says whether newer ones remain.
--
-- @key session   hash: the session's five fields
-- @key events    list: its events
-- @key meta      hash: what the index covers
-- @key ids       zset: event id -> position
-- @arg after     the event_id to read after ("" for the oldest stored)
-- @arg maxBytes  bytes returned at most (at least one entry is)
-- @arg maxEntry  the largest entry returned
-- @return entries ({position, entry} each, oldest first), found 0|1 (the event `after` is
--   stored), tag (the session's, or false when it does not exist), more 0|1, stale 0|1,
--   oversized (entries passed over)
--!include budget.lua
--!include entry.lua
--!include session.lua
local budget = newBudget()
local created = redis.call('HGET', K.session, 'created_at')
local v = view(K, budget, created or '')
local tag = created and tagOf(created, v.llen, v.tail) or false
local function reply(entries, found, more, oversized)
  return {'entries', entries, 'found', found, 'tag', tag, 'more', more,
    'stale', v.stale and 1 or 0, 'oversized', oversized}
end
local start = v.base
if A.after ~= '' then
  local pos = positionOf(K, v, A.after, budget)
  -- Not indexed yet: look through the entries below the index, as far as the budget goes.
  local p = v.lowest - 1
  while not pos and p >= v.base and not spent(budget) do
    local info = entryInfo(entryAt(K, v, p, budget))
    if info and info.id == A.after then pos = p end
    p = p - 1
  end
  if not pos then return reply({}, 0, 0, 0) end
  start = pos + 1
end
local maxBytes, maxEntry = tonumber(A.maxBytes), tonumber(A.maxEntry)
local out, bytes, oversized, more = {}, 0, 0, 0
local p = start
while p < v.total do
  if spent(budget) and #out > 0 then
    more = 1
    break
  end
  local item = entryAt(K, v, p, budget)
  if item and #item > maxEntry then
    oversized = oversized + 1
  elseif item then
    if #out > 0 and bytes + #item > maxBytes then
      more = 1
      break
    end
    out[#out + 1] = {p, item}
    bytes = bytes + #item
  end
  p = p + 1
end
return reply(out, 1, more, oversized)
