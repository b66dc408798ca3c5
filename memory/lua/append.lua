-- Appends events, creating the session when absent; an event_id already stored
-- (or repeated within the batch) is not stored again.
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
-- @arg maxEvents    events a session keeps
-- @arg maxSessions  sessions the index keeps (0: the caller keeps the cap)
-- @arg sessionHead  a session hash's key is this and the session id
-- @arg eventsHead   an event list's key is this and the session id
-- @rest             pairs: the event_id to check ("" when the server made it), the event's JSON
-- @return created 0|1, evicted, stored (1 stored | 0 duplicate, per event)
--!include expect-types.lua
--!include write-head.lua
local seen, flags, batch = nil, {}, {}
for i = REST, #ARGV, 2 do
  local id = ARGV[i]
  local duplicate = false
  if id ~= '' then
    if seen == nil then
      seen = {}
      for _, item in ipairs(redis.call('LRANGE', K.events, 0, -1)) do
        local found = string.match(item, '^{"event_id": "([^"\\]*)"')
        if found == nil then
          local ok, obj = pcall(cjson.decode, item)
          if ok and type(obj) == 'table' and type(obj.event_id) == 'string' then found = obj.event_id end
        end
        if found then seen[found] = true end
      end
    end
    duplicate = seen[id] == true
    seen[id] = true
  end
  if duplicate then
    flags[#flags + 1] = 0
  else
    flags[#flags + 1] = 1
    batch[#batch + 1] = ARGV[i + 1]
  end
end
if #batch > 0 then
  redis.call('RPUSH', K.events, unpack(batch))
  redis.call('LTRIM', K.events, -maxEvents, -1)
end
if #batch > 0 or created == 1 then
  redis.call('HSET', K.session, 'updated_at', A.nowIso)
  redis.call('ZADD', K.index, A.nowScore, A.sid)
end
redis.call('EXPIRE', K.session, ttl)
redis.call('EXPIRE', K.events, ttl)
--!include evict.lua
return {'created', created, 'evicted', evicted, 'stored', flags}
