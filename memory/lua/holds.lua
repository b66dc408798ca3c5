-- One page of an index's held sessions, oldest hold first, with each hold's reason
-- and start. A hold whose session is gone (deleted by another writer) is dropped.
--
-- @key holds   zset: the held sessions of the index
-- @arg after   the rank to start at
-- @arg count   entries examined at most
-- @arg heads   JSON: the key heads of the index (keys.ts)
-- @return holds ({session id, reason, since} each), next (the rank to go on from, or -1)
--!include budget.lua
--!include entry.lua
--!include session.lua
local H = cjson.decode(A.heads)
local from, count = tonumber(A.after), tonumber(A.count)
local members = redis.call('ZRANGE', K.holds, from, from + count - 1)
local out, dropped = {}, 0
for _, sid in ipairs(members) do
  local S = sessionKeys(H, sid)
  local hold = redis.call('HMGET', S.meta, 'hold', 'held_at')
  if hold[1] and redis.call('EXISTS', S.session) == 1 then
    out[#out + 1] = {sid, hold[1], hold[2] or ''}
  else
    redis.call('ZREM', K.holds, sid)
    if redis.call('EXISTS', S.session) == 0 then deleteLeftovers(S) end
    dropped = dropped + 1
  end
end
local nextRank = -1
if #members == count then nextRank = from + count - dropped end
return {'holds', out, 'next', nextRank}
