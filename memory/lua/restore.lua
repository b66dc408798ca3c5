-- Writes one exported session back exactly as it was: the hash fields and the list
-- entries byte for byte, each key's remaining TTL, the index score. Unless replace
-- is 1, a session that already exists is left alone.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key index    zset: the index it is listed in
-- @key meta     hash: what the index covers (dropped: it is rebuilt from the list)
-- @key ids      zset: event id -> position (dropped)
-- @key types    list: the type token of each indexed position (dropped)
-- @key pinned   list: copies of pinned events (dropped: the index rebuilt from the list flags its own)
-- @key digests  list: copies of digests (dropped)
-- @arg sid      the session id
-- @arg replace  1 to overwrite an existing session, else 0
-- @arg score    the index score ("" to leave the index alone)
-- @arg hashTtl  the hash's TTL, seconds (-1: none)
-- @arg listTtl  the list's TTL, seconds (-1: none)
-- @arg fields   n, the number of hash fields
-- @rest         n field, value pairs, then the list's entries, oldest first
-- @return written 1, or 0 when an existing session was kept
--!include expect-types.lua
local layoutError = wrongType(K.session, 'hash') or wrongType(K.events, 'list') or wrongType(K.index, 'zset')
if layoutError then return layoutError end
local hashTtl, listTtl, n = tonumber(A.hashTtl), tonumber(A.listTtl), tonumber(A.fields)
if A.replace ~= '1' and (redis.call('EXISTS', K.session) == 1 or redis.call('EXISTS', K.events) == 1) then
  return {'written', 0}
end
redis.call('DEL', K.session, K.events, K.meta, K.ids, K.types, K.pinned, K.digests)
local first = REST + 2 * n
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
pushAll('HSET', K.session, REST, first - 1)
pushAll('RPUSH', K.events, first, #ARGV)
if hashTtl > 0 then redis.call('EXPIRE', K.session, hashTtl) end
if listTtl > 0 then redis.call('EXPIRE', K.events, listTtl) end
if A.score ~= '' then redis.call('ZADD', K.index, A.score, A.sid) end
return {'written', 1}
