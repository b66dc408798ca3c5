-- The start of both write scripts: the arguments every write takes, the layout
-- check, and the session's creation when it is absent (`created`).
local ttl, maxEvents, maxSessions = A.ttl, tonumber(A.maxEvents), tonumber(A.maxSessions)
local layoutError = wrongType(K.session, 'hash') or wrongType(K.events, 'list') or wrongType(K.index, 'zset')
if layoutError then return layoutError end
local created = 0
if redis.call('EXISTS', K.session) == 0 then
  redis.call('HSET', K.session, 'session_id', A.sid, 'user_id', A.userId, 'app_name', A.appName,
    'created_at', A.nowIso, 'updated_at', A.nowIso)
  created = 1
end
