-- After a session was created in an index over maxSessions (0: no cap here),
-- deletes the least recently updated sessions of that index, passing over held
-- ones and `sid`; returns how many. Looks at a bounded number of candidates.
local function evictOldest(index, holds, H, sid, maxSessions)
  if maxSessions <= 0 then return 0 end
  local excess = redis.call('ZCARD', index) - maxSessions
  if excess <= 0 then return 0 end
  local evicted = 0
  for _, old in ipairs(redis.call('ZRANGE', index, 0, excess + 63)) do
    if evicted >= excess then break end
    if old ~= sid and not redis.call('ZSCORE', holds, old) then
      deleteSession(sessionKeys(H, old))
      redis.call('ZREM', index, old)
      evicted = evicted + 1
    end
  end
  return evicted
end
