-- Deletes a session's keys and its index entry, unless it is held. A script, not
-- MULTI: Redis refuses every command of a MULTI once maxmemory is reached, and
-- deleting is how memory is freed.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key index    zset: the index it is listed in
-- @key meta     hash: what the index covers, the hold
-- @key ids      zset: event id -> position
-- @key types    list: the type token of each indexed position
-- @key pinned   list: copies of pinned events
-- @key digests  list: copies of digests
-- @arg sid      the session id
-- @return deleted (keys deleted; 0 when the session was absent), held 0|1
if redis.call('HEXISTS', K.meta, 'hold') == 1 then return {'deleted', 0, 'held', 1} end
local deleted = redis.call('DEL', K.session, K.events, K.meta, K.ids, K.types, K.pinned, K.digests)
redis.call('ZREM', K.index, A.sid)
return {'deleted', deleted, 'held', 0}
