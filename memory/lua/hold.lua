-- Puts a legal hold on a session: no TTL on any of its keys, and neither eviction
-- nor erasure by user deletes it, until it is released. A session that does not
-- exist is not held.
--
-- @key session   hash: the session's five fields
-- @key events    list: its events
-- @key index     zset: the index it is listed in
-- @key meta      hash: the hold (reason, since)
-- @key ids       zset: event id -> position
-- @key types     list: the type token of each indexed position
-- @key pinned    list: copies of pinned events
-- @key digests   list: copies of digests
-- @key holds     zset: the held sessions of the index
-- @arg sid       the session id
-- @arg reason    why it is held
-- @arg nowIso    the moment, ISO-8601
-- @arg nowScore  the moment, epoch seconds
-- @return exists 0|1, since (when the hold began: now, or when an earlier hold did)
--!include budget.lua
--!include entry.lua
--!include session.lua
if redis.call('EXISTS', K.session) == 0 then return {'exists', 0, 'since', false} end
local since = redis.call('HGET', K.meta, 'held_at') or A.nowIso
redis.call('HSET', K.meta, 'hold', A.reason, 'held_at', since)
touch(K, 0, true)
redis.call('ZADD', K.holds, 'NX', A.nowScore, A.sid)
return {'exists', 1, 'since', since}
