-- Deletes a session's keys and its index entry. A script, not MULTI: Redis refuses
-- every command of a MULTI once maxmemory is reached, and deleting is how memory is freed.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key index    zset: the index it is listed in
-- @arg sid      the session id
-- @return deleted (keys deleted; 0 when the session was absent)
local deleted = redis.call('DEL', K.session, K.events)
redis.call('ZREM', K.index, A.sid)
return {'deleted', deleted}
