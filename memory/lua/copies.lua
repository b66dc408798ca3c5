-- The newest entries of a list of copies (pinned events, digests), newest first,
-- within a page's bytes and the call's budget. Read-only.
--
-- @key list      list: the copies
-- @arg maxBytes  bytes returned at most (at least one entry is)
-- @arg maxEntry  the largest entry returned
-- @return entries (newest first), oversized (entries passed over)
--!include budget.lua
local budget = newBudget()
local maxBytes, maxEntry = tonumber(A.maxBytes), tonumber(A.maxEntry)
local out, bytes, oversized = {}, 0, 0
local length = redis.call('LLEN', K.list)
for i = length - 1, 0, -1 do
  if spent(budget) and #out > 0 then break end
  local item = redis.call('LINDEX', K.list, i)
  spend(budget, item)
  if #item > maxEntry then
    oversized = oversized + 1
  else
    if #out > 0 and bytes + #item > maxBytes then break end
    out[#out + 1] = item
    bytes = bytes + #item
  end
end
return {'entries', out, 'oversized', oversized}
