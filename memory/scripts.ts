// The store's Lua scripts. Each runs atomically on the node that holds its keys;
// every key it touches is passed in (KEYS) or built from a head keys.ts computed
// (ARGV), so key names live in one module. Writes check the types of the keys
// they touch before changing anything: a failed write leaves nothing behind.

/** Returns an error reply (a "kaos-layout:" error) when `key` holds another type than `want`. */
const EXPECT_TYPE = `
local function wrongType(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('kaos-layout: ' .. key .. ' holds a ' .. t .. ', not a ' .. want)
  end
  return nil
end
local layoutError = wrongType(KEYS[1], 'hash') or wrongType(KEYS[2], 'list') or wrongType(KEYS[3], 'zset')
if layoutError then return layoutError end
`;

// ARGV[1..10] of both write scripts: the session, the moment, the limits, the key heads.
const WRITE_HEAD = `
local sid, userId, appName, nowIso, nowScore = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, maxEvents, maxSessions = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local sessionHead, eventsHead = ARGV[9], ARGV[10]
${EXPECT_TYPE}
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'session_id', sid, 'user_id', userId, 'app_name', appName,
    'created_at', nowIso, 'updated_at', nowIso)
  created = 1
end
`;

// When a session was just created and its index is over maxSessions (0: no cap here),
// delete the oldest sessions of that index.
const EVICT = `
local evicted = 0
if created == 1 and maxSessions > 0 then
  local excess = redis.call('ZCARD', KEYS[3]) - maxSessions
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess)) do
      if evicted < excess and old ~= sid then
        redis.call('DEL', sessionHead .. old, eventsHead .. old)
        redis.call('ZREM', KEYS[3], old)
        evicted = evicted + 1
      end
    end
  end
end
`;

/**
 * Create a session unless it exists.
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index
 * ARGV[1..10] as WRITE_HEAD (ARGV[7], max events, is unused here)
 * Returns {created 0|1, evicted, HGETALL of the session, LLEN of its events}
 */
export const CREATE_SESSION = `${WRITE_HEAD}
if created == 1 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[3], nowScore, sid)
end
${EVICT}
return {created, evicted, redis.call('HGETALL', KEYS[1]), redis.call('LLEN', KEYS[2])}
`;

/**
 * Append events, creating the session when absent; an event_id already stored
 * (or repeated within the batch) is not stored again.
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index
 * ARGV[1..10] as WRITE_HEAD
 * ARGV[11..] pairs: event_id to check ("" when the server made it), event JSON
 * Returns {created 0|1, evicted, {1 stored | 0 duplicate, per event}}
 */
export const APPEND_EVENTS = `${WRITE_HEAD}
local seen, flags, batch = nil, {}, {}
for i = 11, #ARGV, 2 do
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
  redis.call('LTRIM', KEYS[2], -maxEvents, -1)
end
if #batch > 0 or created == 1 then
  redis.call('HSET', KEYS[1], 'updated_at', nowIso)
  redis.call('ZADD', KEYS[3], nowScore, sid)
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
${EVICT}
return {created, evicted, flags}
`;

/**
 * Delete a session's keys and its index entry. A script, not MULTI: Redis refuses
 * every command of a MULTI once maxmemory is reached, and deleting is how memory is freed.
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index   ARGV[1] S
 * Returns the number of keys deleted (0 when the session was absent).
 */
export const DELETE_SESSION = `
local deleted = redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return deleted
`;

/**
 * Delete a session only if its index entry still has the score the caller saw:
 * eviction on Redis Cluster, where the oldest sessions are chosen across indexes
 * first and a session updated meanwhile must survive.
 * KEYS[1] index  ARGV[1] S  ARGV[2] score seen  ARGV[3] session head  ARGV[4] events head
 * Returns 1 when deleted, else 0.
 */
export const EVICT_IF_UNCHANGED = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', ARGV[3] .. ARGV[1], ARGV[4] .. ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

/**
 * One page of one index, newest first: a sorted-set range, never a scan of the
 * keyspace. Index entries whose session expired are removed.
 * KEYS[1] index
 * ARGV[1] max score ("+inf" or the cursor's)  ARGV[2] cursor member ("" for none)
 * ARGV[3] page size  ARGV[4] user_id filter ("" for none)  ARGV[5] session key head
 * ARGV[6] how many index entries to examine at most
 * Returns {rows, stop}: rows {id, score, user_id, app_name, created_at, updated_at}…;
 * stop {score, member} of the last entry examined when the index may hold more, else {}.
 */
export const LIST_SESSIONS = `
local maxScore, afterMember, limit, user, sessionHead = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local budget = tonumber(ARGV[6])
local entries = redis.call('ZREVRANGEBYSCORE', KEYS[1], maxScore, '-inf', 'WITHSCORES', 'LIMIT', 0, budget)
local cursorScore = afterMember ~= '' and tonumber(maxScore) or nil
local rows, last = {}, nil
for i = 1, #entries, 2 do
  local member, score = entries[i], entries[i + 1]
  local skip = cursorScore ~= nil and tonumber(score) == cursorScore and member >= afterMember
  if not skip then
    if #rows >= limit then
      return {rows, last}
    end
    local f = redis.call('HMGET', sessionHead .. member,
      'session_id', 'user_id', 'app_name', 'created_at', 'updated_at')
    if f[1] == false and f[2] == false and f[4] == false then
      redis.call('ZREM', KEYS[1], member)
    elseif user == '' or f[2] == user then
      rows[#rows + 1] = {member, score, f[2] or '', f[3] or '', f[4] or '', f[5] or ''}
    end
    last = {score, member}
  end
end
if #entries < budget * 2 then
  return {rows, {}}
end
return {rows, last or {}}
`;

/**
 * The newest events of a session that fit in a byte budget, newest first, read
 * in chunks so neither Redis nor the sidecar holds more than needed; entries
 * larger than the largest allowed are passed over and reported.
 * KEYS[1] events list
 * ARGV[1] read entries before this index ("" for the end of the list)
 * ARGV[2] event_id at that index ("" to trust the index as it is)
 * ARGV[3] at most this many entries  ARGV[4] at most this many bytes in all
 * ARGV[5] largest entry returned  ARGV[6] comma-separated event types ("" for all)
 * Returns {length, {index, entry}… newest first, {index of each oversized entry}, more 0|1}.
 * An ARGV[2] no longer found (trimmed away) gives no entries.
 */
export const READ_EVENTS = `
local length = redis.call('LLEN', KEYS[1])
local before = length
if ARGV[1] ~= '' then
  before = math.min(tonumber(ARGV[1]), length)
  local id = ARGV[2]
  if id ~= '' then
    -- Appends never move an entry's index; trims move it down. Find the event again.
    local found = -1
    local needle, compact = '"event_id": ' .. cjson.encode(id), '"event_id":' .. cjson.encode(id)
    local i = math.min(before, length - 1)
    while i >= 0 and found < 0 do
      local from = math.max(0, i - 63)
      local chunk = redis.call('LRANGE', KEYS[1], from, i)
      for j = #chunk, 1, -1 do
        local item = chunk[j]
        if string.find(item, needle, 1, true) or string.find(item, compact, 1, true) then
          local ok, obj = pcall(cjson.decode, item)
          if ok and type(obj) == 'table' and obj.event_id == id then found = from + j - 1 break end
        end
      end
      i = from - 1
    end
    if found < 0 then return {length, {}, {}, 0} end
    before = found
  end
end
local maxCount, maxBytes, maxEntry = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wanted = nil
if ARGV[6] ~= '' then
  wanted = {}
  for t in string.gmatch(ARGV[6], '[^,]+') do wanted[t] = true end
end
local out, oversized, bytes, more = {}, {}, 0, 0
local i = before - 1
while i >= 0 and more == 0 do
  local from = math.max(0, i - 31)
  local chunk = redis.call('LRANGE', KEYS[1], from, i)
  for j = #chunk, 1, -1 do
    local item, index = chunk[j], from + j - 1
    if #item > maxEntry then
      oversized[#oversized + 1] = index
    else
      local keep = true
      if wanted then
        local t = string.match(item, '"event_type": "([^"\\\\]*)"')
        if t == nil then
          local ok, obj = pcall(cjson.decode, item)
          -- Undecidable here: let the reader decide.
          if ok and type(obj) == 'table' and type(obj.event_type) == 'string' then t = obj.event_type end
        end
        keep = t == nil or wanted[t] == true
      end
      if keep then
        if #out >= maxCount or (#out > 0 and bytes + #item > maxBytes) then
          more = 1
          break
        end
        out[#out + 1] = {index, item}
        bytes = bytes + #item
      end
    end
  end
  i = from - 1
end
return {length, out, oversized, more}
`;

/**
 * Delete a session only while it belongs to this user: erasing a user's sessions
 * (privacy requests) never deletes a session that changed hands meanwhile.
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index
 * ARGV[1] S  ARGV[2] user_id
 * Returns 1 when deleted, else 0.
 */
export const DELETE_IF_OWNER = `
if redis.call('HGET', KEYS[1], 'user_id') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;

/**
 * Everything stored for one session, read at one moment: the operator CLI's export.
 * A read-only script, so it works when Redis is at maxmemory (moving data out of a
 * full Redis is when an export is wanted most).
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index   ARGV[1] S
 * Returns {HGETALL, LRANGE 0 -1, TTL of the hash, TTL of the list, ZSCORE or false}.
 */
export const EXPORT_SESSION = `
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('LRANGE', KEYS[2], 0, -1),
  redis.call('TTL', KEYS[1]),
  redis.call('TTL', KEYS[2]),
  redis.call('ZSCORE', KEYS[3], ARGV[1])
}
`;

/**
 * Write one exported session back exactly as it was: the hash fields and the list
 * entries byte for byte, each key's remaining TTL, the index score. Unless ARGV[2]
 * is 1, a session that already exists is left alone.
 * KEYS[1] session hash  KEYS[2] events list  KEYS[3] index
 * ARGV[1] S  ARGV[2] replace 0|1  ARGV[3] index score ("" to leave the index alone)
 * ARGV[4] hash TTL  ARGV[5] list TTL (seconds; -1 none)  ARGV[6] n, the hash's field count
 * ARGV[7 .. 6+2n] field, value pairs  ARGV[7+2n ..] list entries, oldest first
 * Returns 1 when written, 0 when an existing session was kept.
 */
export const RESTORE_SESSION = `${EXPECT_TYPE}
local sid, replace, score = ARGV[1], ARGV[2], ARGV[3]
local hashTtl, listTtl, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if replace ~= '1' and (redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
local first = 7 + 2 * n
-- In chunks: unpack() of thousands of values overflows Lua's stack.
local function pushAll(command, key, from, to)
  local chunk = {}
  for i = from, to do
    chunk[#chunk + 1] = ARGV[i]
    if #chunk == 1000 then
      redis.call(command, key, unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then redis.call(command, key, unpack(chunk)) end
end
pushAll('HSET', KEYS[1], 7, first - 1)
pushAll('RPUSH', KEYS[2], first, #ARGV)
if hashTtl > 0 then redis.call('EXPIRE', KEYS[1], hashTtl) end
if listTtl > 0 then redis.call('EXPIRE', KEYS[2], listTtl) end
if score ~= '' then redis.call('ZADD', KEYS[3], score, sid) end
return 1
`;
