-- Closes the sessions of one index idle since the cutoff: appends one
-- session_closed event to each, with an id made from its last update (so several
-- sidecars closing the same session store it once). Closing is not activity: the
-- session's index score, updated_at and TTL stay as they were. A page at a time,
-- oldest first, from a cursor, within the budget.
--
-- @key index        zset: the index
-- @arg heads        JSON: the key heads of the index (keys.ts)
-- @arg cutoff       close sessions last updated at or before this score
-- @arg afterScore   the cursor: sessions up to (afterScore, afterMember) are done ("-inf", "")
-- @arg afterMember  the cursor's member
-- @arg limit        sessions looked at, at most
-- @arg nowIso       the moment, ISO-8601
-- @arg idleSeconds  the idle time that closes a session (the event's content)
-- @arg maxEvents    events a session keeps
-- @return closed (sessions closed), next ({score, member} to go on from, or {} when done)
--!include budget.lua
--!include entry.lua
--!include session.lua
local H = cjson.decode(A.heads)
local limit = tonumber(A.limit)
local budget = newBudget()
local entries = redis.call('ZRANGEBYSCORE', K.index, A.afterScore, A.cutoff, 'WITHSCORES', 'LIMIT', 0, limit)
local afterScore = tonumber(A.afterScore)
local closed, last, looked = 0, nil, 0
for i = 1, #entries, 2 do
  local sid, score = entries[i], entries[i + 1]
  if not (afterScore and tonumber(score) == afterScore and sid <= A.afterMember) then
    if spent(budget) then break end
    local S = sessionKeys(H, sid)
    local created = redis.call('HGET', S.session, 'created_at')
    if created then
      local id = 'session_closed_' .. score
      local v = view(S, budget, created)
      sync(S, v, budget)
      if not positionOf(S, v, id, budget) then
        local seq = v.meta.seq + 1
        pushEntries(S, v, {'{"event_id": "' .. id .. '", "timestamp": "' .. A.nowIso ..
          '", "event_type": "session_closed", "content": {"idle_seconds": ' .. A.idleSeconds ..
          '}, "metadata": {"seq": ' .. seq .. '}}'}, tonumber(A.maxEvents))
        redis.call('HSET', S.meta, 'seq', seq)
        followTtl(S)
        closed = closed + 1
      end
    end
  end
  last = {score, sid}
  looked = looked + 1
end
local nextCursor = {}
if last and (#entries == limit * 2 or looked * 2 < #entries) then nextCursor = last end
return {'closed', closed, 'next', nextCursor}
