-- Everything stored for one session, read at one moment: the operator CLI's export.
-- Read-only, so it works when Redis is at maxmemory (moving data out of a full
-- Redis is when an export is wanted most).
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key index    zset: the index it is listed in
-- @arg sid      the session id
-- @return hash (HGETALL), events (all, oldest first), hashTtl, eventsTtl (TTL, seconds),
--   score (the index score, or false)
return {
  'hash', redis.call('HGETALL', K.session),
  'events', redis.call('LRANGE', K.events, 0, -1),
  'hashTtl', redis.call('TTL', K.session),
  'eventsTtl', redis.call('TTL', K.events),
  'score', redis.call('ZSCORE', K.index, A.sid)
}
