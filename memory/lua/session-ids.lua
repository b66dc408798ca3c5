-- The ids of one index's sessions, newest first, as KAOS's list_sessions gives
-- them: an entry whose session expired is removed on the way, never listed.
--
-- @key index     zset: the index
-- @arg from      the rank to start at (0: the newest)
-- @arg count     index entries examined at most
-- @arg heads     JSON: the key heads of the index (keys.ts)
-- @return ids ({id, score} each), next (the rank to go on from, or -1 at the end)
--!include budget.lua
--!include entry.lua
--!include session.lua
local H = cjson.decode(A.heads)
local from, count = tonumber(A.from), tonumber(A.count)
local entries = redis.call('ZREVRANGE', K.index, from, from + count - 1, 'WITHSCORES')
local ids, removed = {}, 0
for i = 1, #entries, 2 do
  local member = entries[i]
  if redis.call('EXISTS', H.session .. member) == 1 then
    ids[#ids + 1] = {member, entries[i + 1]}
  else
    redis.call('ZREM', K.index, member)
    deleteLeftovers(sessionKeys(H, member))
    removed = removed + 1
  end
end
local nextRank = -1
if #entries == count * 2 then nextRank = from + count - removed end
return {'ids', ids, 'next', nextRank}
