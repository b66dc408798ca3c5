-- Creates a session unless it exists.
--
-- @key session      hash: the session's five fields
-- @key events       list: its events
-- @key index        zset: the index it is listed in
-- @arg sid          the session id
-- @arg userId       its owner, when it is created
-- @arg appName      its app, when it is created
-- @arg nowIso       the moment, ISO-8601
-- @arg nowScore     the moment, epoch seconds (the index score)
-- @arg ttl          the sliding TTL, seconds
-- @arg maxEvents    events a session keeps (unused here)
-- @arg maxSessions  sessions the index keeps (0: the caller keeps the cap)
-- @arg sessionHead  a session hash's key is this and the session id
-- @arg eventsHead   an event list's key is this and the session id
-- @return created 0|1, evicted, session (HGETALL), count (LLEN)
--!include expect-types.lua
--!include write-head.lua
if created == 1 then
  redis.call('EXPIRE', K.session, ttl)
  redis.call('ZADD', K.index, A.nowScore, A.sid)
end
--!include evict.lua
return {'created', created, 'evicted', evicted,
  'session', redis.call('HGETALL', K.session), 'count', redis.call('LLEN', K.events)}
