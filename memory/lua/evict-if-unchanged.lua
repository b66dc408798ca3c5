-- Deletes a session only if its index entry still has the score the caller saw
-- and it is not held: eviction on Redis Cluster, where the oldest sessions are
-- chosen across indexes first and a session updated meanwhile must survive.
--
-- @key index  zset: the index the session is listed in
-- @key holds  zset: the held sessions of the index
-- @arg sid    the session id
-- @arg score  its index score when it was chosen
-- @arg heads  JSON: the key heads of the index (keys.ts)
-- @return evicted 0|1
--!include budget.lua
--!include entry.lua
--!include session.lua
local score = redis.call('ZSCORE', K.index, A.sid)
if not score or tonumber(score) ~= tonumber(A.score) or redis.call('ZSCORE', K.holds, A.sid) then
  return {'evicted', 0}
end
deleteSession(sessionKeys(cjson.decode(A.heads), A.sid))
redis.call('ZREM', K.index, A.sid)
return {'evicted', 1}
