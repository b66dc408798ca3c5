-- The head of a stored entry, read without decoding the rest: KAOS (json.dumps)
-- and the sidecar write `{"event_id": …, "timestamp": …, "event_type": …,
-- "content": …, "metadata": {…}}`, so the id and the type are found at the start
-- whatever the entry's size. Types are compared as their JSON tokens, so a type
-- that needs escaping (non-ASCII included) matches exactly.

-- The index of the quote closing the JSON string token that starts at `at`, or nil.
local function stringEnd(s, at)
  if string.byte(s, at) ~= 34 then return nil end
  local i = at + 1
  while true do
    local j = string.find(s, '["\\]', i)
    if j == nil then return nil end
    if string.byte(s, j) == 34 then return j end
    i = j + 2
  end
end

-- {id, idToken, typeToken, typeStart} of an entry in that form, else nil.
local function entryHead(s)
  if string.sub(s, 1, 13) ~= '{"event_id": ' then return nil end
  local idEnd = stringEnd(s, 14)
  if not idEnd or string.sub(s, idEnd + 1, idEnd + 15) ~= ', "timestamp": ' then return nil end
  local tsEnd = stringEnd(s, idEnd + 16)
  if not tsEnd or string.sub(s, tsEnd + 1, tsEnd + 16) ~= ', "event_type": ' then return nil end
  local typeStart = tsEnd + 17
  local typeEnd = stringEnd(s, typeStart)
  if not typeEnd or string.sub(s, typeEnd + 1, typeEnd + 13) ~= ', "content": ' then return nil end
  local idToken = string.sub(s, 14, idEnd)
  local id = string.sub(idToken, 2, -2)
  if string.find(id, '\\', 1, true) then
    local ok, decoded = pcall(cjson.decode, idToken)
    if not ok or type(decoded) ~= 'string' then return nil end
    id = decoded
  end
  return {id = id, idToken = idToken, typeToken = string.sub(s, typeStart, typeEnd), typeStart = typeStart}
end

-- An entry's id and type token ('?' when only a full decode could tell), or nil
-- for an entry no reader returns. Other writers' JSON is decoded whole.
local function entryInfo(s)
  local head = entryHead(s)
  if head then return head end
  local ok, obj = pcall(cjson.decode, s)
  if ok and type(obj) == 'table' and type(obj.event_id) == 'string' then
    return {id = obj.event_id, idToken = '', typeToken = '?'}
  end
  return nil
end

-- What identifies an entry cheaply: its length and its id's token.
local function signature(s)
  local head = entryHead(s)
  return #s .. ':' .. (head and head.idToken or '')
end
