-- Deletes a session only if its index entry still has the score the caller saw:
-- eviction on Redis Cluster, where the oldest sessions are chosen across indexes
-- first and a session updated meanwhile must survive.
--
-- @key index        zset: the index the session is listed in
-- @arg sid          the session id
-- @arg score        its index score when it was chosen
-- @arg sessionHead  a session hash's key is this and the session id
-- @arg eventsHead   an event list's key is this and the session id
-- @return evicted 0|1
local score = redis.call('ZSCORE', K.index, A.sid)
if not score or tonumber(score) ~= tonumber(A.score) then return {'evicted', 0} end
redis.call('DEL', A.sessionHead .. A.sid, A.eventsHead .. A.sid)
redis.call('ZREM', K.index, A.sid)
return {'evicted', 1}
