-- Creates a session unless it exists; answers it as it is either way.
--
-- @key session      hash: the session's five fields
-- @key events       list: its events
-- @key index        zset: the index it is listed in
-- @key meta         hash: what the index covers
-- @key ids          zset: event id -> position
-- @key types        list: the type token of each indexed position
-- @key pinned       list: copies of pinned events
-- @key digests      list: copies of digests
-- @key erased       hash: the erasure tombstone
-- @key holds        zset: the held sessions of the index
-- @arg sid          the session id
-- @arg userId       its owner, when it is created
-- @arg appName      its app, when it is created
-- @arg nowIso       the moment, ISO-8601
-- @arg nowScore     the moment, epoch seconds (the index score)
-- @arg ttl          the sliding TTL, seconds
-- @arg maxSessions  sessions the index keeps (0: the caller keeps the cap)
-- @arg heads        JSON: the key heads of the index (keys.ts), for eviction
-- @return created 0|1, evicted, session (HGETALL), count (events a reader returns), tag
--!include expect-types.lua
--!include budget.lua
--!include entry.lua
--!include session.lua
--!include evict.lua
local layoutError = wrongType(K.session, 'hash') or wrongType(K.events, 'list') or wrongType(K.index, 'zset')
if layoutError then return layoutError end
local created, evicted = 0, 0
if redis.call('EXISTS', K.session) == 0 then
  createSession(K, A.sid, A.userId, A.appName, A.nowIso)
  redis.call('EXPIRE', K.session, A.ttl)
  redis.call('ZADD', K.index, A.nowScore, A.sid)
  created = 1
  evicted = evictOldest(K.index, K.holds, cjson.decode(A.heads), A.sid, tonumber(A.maxSessions))
end
local createdAt = redis.call('HGET', K.session, 'created_at') or ''
local v = view(K, newBudget(), createdAt)
return {'created', created, 'evicted', evicted, 'session', redis.call('HGETALL', K.session),
  'count', countOf(K, v), 'tag', tagOf(createdAt, v.llen, v.tail)}
