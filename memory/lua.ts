// The sidecar's Redis writes. Each runs as one script inside one MULTI/EXEC, so
// the decision (does the session exist? is this event_id stored?) and the write
// are one atomic step. The key layout is KAOS RedisMemory's (see keys.ts).

// Shared tail: when a session was just created and the index is over its cap,
// delete the oldest sessions' keys. Expects `created`, KEYS[3] and
// ARGV[sid], ARGV[maxSessions], ARGV[prefix] as locals sid, maxSessions, prefix.
const EVICT = `
local evicted = 0
if created == 1 then
  local excess = redis.call('ZCARD', KEYS[3]) - maxSessions
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess)) do
      if evicted < excess and old ~= sid then
        redis.call('DEL', prefix .. ':session:' .. old, prefix .. ':events:' .. old)
        redis.call('ZREM', KEYS[3], old)
        evicted = evicted + 1
      end
    end
  end
end
`;

// Shared head: write the session hash when absent (ARGV[1..4] as in both
// scripts below) and set `created`.
const CREATE_IF_ABSENT = `
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'session_id', ARGV[1], 'user_id', ARGV[2], 'app_name', ARGV[3],
    'created_at', ARGV[4], 'updated_at', ARGV[4])
  created = 1
end
`;

/**
 * Create a session unless it exists.
 * KEYS[1] P:session:S  KEYS[2] P:events:S  KEYS[3] P:sessions
 * ARGV[1..9] the session head shared with APPEND_EVENTS (ARGV[7], max events, is unused here)
 * Returns {created 0|1, evicted, HGETALL of the session, LLEN of its events}
 */
export const CREATE_SESSION = `
local sid, maxSessions, prefix = ARGV[1], tonumber(ARGV[8]), ARGV[9]
${CREATE_IF_ABSENT}
if created == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[5], sid)
end
${EVICT}
return {created, evicted, redis.call('HGETALL', KEYS[1]), redis.call('LLEN', KEYS[2])}
`;

/**
 * Append events, creating the session when absent; an event_id already stored
 * (or repeated within the batch) is not stored again.
 * KEYS[1] P:session:S  KEYS[2] P:events:S  KEYS[3] P:sessions
 * ARGV[1] S  ARGV[2] user_id  ARGV[3] app_name  ARGV[4] now ISO  ARGV[5] now epoch seconds
 * ARGV[6] ttl seconds  ARGV[7] max events  ARGV[8] max sessions  ARGV[9] key prefix
 * ARGV[10..] pairs: event_id to check ("" when the server made it), event JSON
 * Returns {created 0|1, evicted, {1 stored | 0 duplicate, per event}}
 */
export const APPEND_EVENTS = `
local sid, maxSessions, prefix = ARGV[1], tonumber(ARGV[8]), ARGV[9]
${CREATE_IF_ABSENT}
local seen, flags, batch = nil, {}, {}
for i = 10, #ARGV, 2 do
  local id = ARGV[i]
  local duplicate = false
  if id ~= '' then
    if seen == nil then
      seen = {}
      for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        local found = string.match(item, '^{"event_id": "([^"\\\\]*)"')
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
  redis.call('RPUSH', KEYS[2], unpack(batch))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[7]), -1)
end
if #batch > 0 or created == 1 then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[5], sid)
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
${EVICT}
return {created, evicted, flags}
`;

/**
 * Delete a session's keys and its index entry.
 * KEYS[1] P:session:S  KEYS[2] P:events:S  KEYS[3] P:sessions   ARGV[1] S
 * Returns the number of keys deleted (0 when the session was absent).
 */
export const DELETE_SESSION = `
local deleted = redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return deleted
`;

/**
 * One page of sessions, newest first, from the index: a sorted-set range, never
 * a scan of the keyspace. Index entries whose session expired are removed.
 * KEYS[1] P:sessions
 * ARGV[1] max score ("+inf" or the cursor's)  ARGV[2] cursor member ("" for none)
 * ARGV[3] page size  ARGV[4] user_id filter ("" for none)  ARGV[5] key prefix
 * ARGV[6] how many index entries to examine at most
 * Returns {next score or "", next member or "", rows: {id, user_id, app_name, created_at, updated_at}...}
 */
export const LIST_SESSIONS = `
local maxScore, afterMember, limit, user, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local budget = tonumber(ARGV[6])
local entries = redis.call('ZREVRANGEBYSCORE', KEYS[1], maxScore, '-inf', 'WITHSCORES', 'LIMIT', 0, budget)
local cursorScore = afterMember ~= '' and tonumber(maxScore) or nil
local rows, nextScore, nextMember = {}, '', ''
local examined = 0
for i = 1, #entries, 2 do
  local member, score = entries[i], entries[i + 1]
  local skip = cursorScore ~= nil and tonumber(score) == cursorScore and member >= afterMember
  if not skip then
    if #rows >= limit then
      return {nextScore, nextMember, rows}
    end
    local f = redis.call('HMGET', prefix .. ':session:' .. member,
      'session_id', 'user_id', 'app_name', 'created_at', 'updated_at')
    if f[1] == false and f[2] == false and f[4] == false then
      redis.call('ZREM', KEYS[1], member)
    elseif user == '' or f[2] == user then
      rows[#rows + 1] = {member, f[2] or '', f[3] or '', f[4] or '', f[5] or ''}
    end
  end
  nextScore, nextMember = score, member
  examined = examined + 1
end
if #entries < budget * 2 then
  return {'', '', rows}
end
return {nextScore, nextMember, rows}
`;
