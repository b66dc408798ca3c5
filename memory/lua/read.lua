-- The newest events of a session that fit in a byte budget, newest first, read in
-- chunks so neither Redis nor the sidecar holds more than needed; entries larger
-- than the largest allowed are passed over and reported.
--
-- @key events    list: the session's events
-- @arg before    read the entries before this index ("" for the end of the list)
-- @arg beforeId  the event_id at that index ("" to trust the index as it is)
-- @arg maxCount  entries returned at most
-- @arg maxBytes  bytes returned at most (at least one entry is)
-- @arg maxEntry  the largest entry returned
-- @arg types     comma-separated event types ("" for all)
-- @return length (LLEN), entries ({index, entry} each, newest first),
--   oversized (the index of each entry passed over), more 0|1.
--   A beforeId no longer found (trimmed away) gives no entries.
local length = redis.call('LLEN', K.events)
local before = length
if A.before ~= '' then
  before = math.min(tonumber(A.before), length)
  local id = A.beforeId
  if id ~= '' then
    -- Appends never move an entry's index; trims move it down. Find the event again.
    local found = -1
    local needle, compact = '"event_id": ' .. cjson.encode(id), '"event_id":' .. cjson.encode(id)
    local i = math.min(before, length - 1)
    while i >= 0 and found < 0 do
      local from = math.max(0, i - 63)
      local chunk = redis.call('LRANGE', K.events, from, i)
      for j = #chunk, 1, -1 do
        local item = chunk[j]
        if string.find(item, needle, 1, true) or string.find(item, compact, 1, true) then
          local ok, obj = pcall(cjson.decode, item)
          if ok and type(obj) == 'table' and obj.event_id == id then found = from + j - 1 break end
        end
      end
      i = from - 1
    end
    if found < 0 then return {'length', length, 'entries', {}, 'oversized', {}, 'more', 0} end
    before = found
  end
end
local maxCount, maxBytes, maxEntry = tonumber(A.maxCount), tonumber(A.maxBytes), tonumber(A.maxEntry)
local wanted = nil
if A.types ~= '' then
  wanted = {}
  for t in string.gmatch(A.types, '[^,]+') do wanted[t] = true end
end
local out, oversized, bytes, more = {}, {}, 0, 0
local i = before - 1
while i >= 0 and more == 0 do
  local from = math.max(0, i - 31)
  local chunk = redis.call('LRANGE', K.events, from, i)
  for j = #chunk, 1, -1 do
    local item, index = chunk[j], from + j - 1
    if #item > maxEntry then
      oversized[#oversized + 1] = index
    else
      local keep = true
      if wanted then
        local t = string.match(item, '"event_type": "([^"\\]*)"')
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
return {'length', length, 'entries', out, 'oversized', oversized, 'more', more}
