-- When a session was just created and its index is over maxSessions (0: no cap
-- here), deletes the oldest sessions of that index; `evicted` counts them.
local evicted = 0
if created == 1 and maxSessions > 0 then
  local excess = redis.call('ZCARD', K.index) - maxSessions
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', K.index, 0, excess)) do
      if evicted < excess and old ~= A.sid then
        redis.call('DEL', A.sessionHead .. old, A.eventsHead .. old)
        redis.call('ZREM', K.index, old)
        evicted = evicted + 1
      end
    end
  end
end
