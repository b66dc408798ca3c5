-- The tags of sessions of one index (stream polling), read-only: one call per
-- index and node instead of one per session, as far as the budget goes.
--
-- @key index   zset: the index the sessions are listed in (it routes the call)
-- @arg heads   JSON: the key heads of the index (keys.ts)
-- @rest        the session ids
-- @return tags ({session id, tag or false when it does not exist} each, in order; fewer
--   than asked when the budget ran out)
--!include budget.lua
--!include entry.lua
--!include session.lua
local H = cjson.decode(A.heads)
local budget = newBudget()
local tags = {}
for i = REST, #ARGV do
  if spent(budget) and #tags > 0 then break end
  local S = sessionKeys(H, ARGV[i])
  local created = redis.call('HGET', S.session, 'created_at')
  local tag = false
  if created then
    local llen, tail = redis.call('LLEN', S.events), ''
    if llen > 0 then
      local item = redis.call('LINDEX', S.events, -1)
      spend(budget, item)
      tail = signature(item)
    end
    tag = tagOf(created, llen, tail)
  end
  tags[#tags + 1] = {ARGV[i], tag}
end
return {'tags', tags}
