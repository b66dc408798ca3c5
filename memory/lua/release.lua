-- Lifts a session's legal hold: its keys take the sliding TTL again, from now.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key meta     hash: the hold
-- @key ids      zset: event id -> position
-- @key types    list: the type token of each indexed position
-- @key pinned   list: copies of pinned events
-- @key digests  list: copies of digests
-- @key holds    zset: the held sessions of the index
-- @arg sid      the session id
-- @arg ttl      the sliding TTL, seconds
-- @return released 0|1 (0: it was not held)
--!include budget.lua
--!include entry.lua
--!include session.lua
redis.call('ZREM', K.holds, A.sid)
if redis.call('HEXISTS', K.meta, 'hold') == 0 then return {'released', 0} end
redis.call('HDEL', K.meta, 'hold', 'held_at')
touch(K, A.ttl, false)
return {'released', 1}
