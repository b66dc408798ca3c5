-- Erases the sessions of one user among those named (a page of the index), each
-- only while it belongs to that user and is not held. Each erased session leaves a
-- tombstone for as long as a session lives, so a later append re-creates it under
-- the user it was erased for, never under another owner. A script outside MULTI:
-- deleting must work at maxmemory (the tombstone is then skipped).
--
-- @key index  zset: the index the sessions are listed in
-- @key holds  zset: the held sessions of the index
-- @arg user   the user whose sessions are erased
-- @arg heads  JSON: the key heads of the index (keys.ts)
-- @arg ttl    how long a tombstone lasts, seconds
-- @arg nowIso the moment, ISO-8601
-- @rest       session ids
-- @return erased (the ids erased), held (the ids of the user's held sessions, kept)
--!include budget.lua
--!include entry.lua
--!include session.lua
local H = cjson.decode(A.heads)
local erased, held = {}, {}
for i = REST, #ARGV do
  local sid = ARGV[i]
  local S = sessionKeys(H, sid)
  local owner = redis.call('HMGET', S.session, 'user_id', 'app_name')
  if owner[1] == A.user then
    if redis.call('HEXISTS', S.meta, 'hold') == 1 then
      held[#held + 1] = sid
    else
      local tombstone = redis.pcall('HSET', S.erased, 'user_id', A.user, 'app_name', owner[2] or '',
        'erased_at', A.nowIso)
      if type(tombstone) ~= 'table' then redis.call('EXPIRE', S.erased, A.ttl) end
      deleteSession(S)
      redis.call('ZREM', K.index, sid)
      erased[#erased + 1] = sid
    end
  end
end
return {'erased', erased, 'held', held}
