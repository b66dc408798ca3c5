-- One page of one index, newest first: a sorted-set range, never a scan of the
-- keyspace. An index entry whose session expired (or was deleted by another
-- writer) is removed, with the keys the sidecar kept beside it.
--
-- @key index        zset: the index
-- @arg maxScore     the highest score to list ("+inf", or the cursor's)
-- @arg afterMember  the cursor's member ("" for none): entries at maxScore up to it are passed
-- @arg limit        the page size
-- @arg user         only this user's sessions ("" for all)
-- @arg heads        JSON: the key heads of the index (keys.ts)
-- @arg budget       index entries examined at most
-- @return rows ({id, score, user_id, app_name, created_at, updated_at} each),
--   stop ({score, member} of the last entry examined when the index may hold more, else {})
--!include budget.lua
--!include entry.lua
--!include session.lua
local limit, budget = tonumber(A.limit), tonumber(A.budget)
local H = cjson.decode(A.heads)
local entries = redis.call('ZREVRANGEBYSCORE', K.index, A.maxScore, '-inf', 'WITHSCORES', 'LIMIT', 0, budget)
local cursorScore = A.afterMember ~= '' and tonumber(A.maxScore) or nil
local rows, last = {}, nil
for i = 1, #entries, 2 do
  local member, score = entries[i], entries[i + 1]
  local skip = cursorScore ~= nil and tonumber(score) == cursorScore and member >= A.afterMember
  if not skip then
    if #rows >= limit then
      return {'rows', rows, 'stop', last}
    end
    local f = redis.call('HMGET', H.session .. member,
      'session_id', 'user_id', 'app_name', 'created_at', 'updated_at')
    if f[1] == false and f[2] == false and f[4] == false then
      redis.call('ZREM', K.index, member)
      deleteLeftovers(sessionKeys(H, member))
    elseif A.user == '' or f[2] == A.user then
      rows[#rows + 1] = {member, score, f[2] or '', f[3] or '', f[4] or '', f[5] or ''}
    end
    last = {score, member}
  end
end
if #entries < budget * 2 then
  return {'rows', rows, 'stop', {}}
end
return {'rows', rows, 'stop', last or {}}
