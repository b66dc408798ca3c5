-- Appends events, creating the session when absent. Each stored event gets the
-- session's next sequence number (metadata.seq, last). An event_id already stored,
-- or repeated within the batch, is not stored again; with other content the whole
-- append is refused (conflict). With ifMatch, nothing is written unless the
-- session's tag is one of those (or, with `*`, unless it exists); a digest (flag d)
-- gets the next digest version and a copy in the digests list, and with
-- expectVersion only if the current one is that. With rangeFrom and rangeTo, nothing
-- is written unless both events are stored, in that order (a digest's range).
-- Work is bounded by the batch and the budget, whatever the session holds.
--
-- @key session        hash: the session's five fields
-- @key events         list: its events
-- @key index          zset: the index it is listed in
-- @key meta           hash: what the index covers, the sequence, the hold
-- @key ids            zset: event id -> position
-- @key types          list: the type token of each indexed position
-- @key pinned         list: copies of pinned events
-- @key digests        list: copies of digests
-- @key erased         hash: the erasure tombstone
-- @key holds          zset: the held sessions of the index
-- @arg sid            the session id
-- @arg userId         its owner, when it is created
-- @arg appName        its app, when it is created
-- @arg nowIso         the moment, ISO-8601
-- @arg nowScore       the moment, epoch seconds (the index score)
-- @arg ttl            the sliding TTL, seconds
-- @arg maxEvents      events a session keeps
-- @arg maxSessions    sessions the index keeps (0: the caller keeps the cap)
-- @arg heads          JSON: the key heads of the index (keys.ts), for eviction
-- @arg ifMatch        the tags the session may have, space-separated ("" for any, "*" for
--                     any once it exists)
-- @arg expectVersion  the digest version the session must be at ("" for any)
-- @arg rangeFrom      an event_id that must be stored ("" for none)
-- @arg rangeTo        an event_id that must be stored, not before rangeFrom ("" for none)
-- @rest               triples: flags (c: check the event_id, p: pinned, d: a digest, u: a
--                     summary that is not the store's digest, so it has no copy, m: metadata
--                     not empty), where its `, "metadata": ` starts (1-based), the event's JSON
--                     without its last two characters ("}}")
-- @return precondition 0|1, tag (the session's, after), version (the digest version, after),
--   conflict (an event_id stored with other content, or false), range (false, or why the
--   range is refused: "from" or "to" not stored, "order"), created 0|1, evicted,
--   stored (1|0 per event), seqs (per event; -1 for a duplicate with none), previous (the
--   JSON token of the event_id the new entries follow, or false: none, or not in the
--   sidecar's form), so the sidecar's streams can send what it stored without reading it back
--!include expect-types.lua
--!include budget.lua
--!include entry.lua
--!include session.lua
--!include evict.lua
local layoutError = wrongType(K.session, 'hash') or wrongType(K.events, 'list') or wrongType(K.index, 'zset')
  or wrongType(K.meta, 'hash') or wrongType(K.ids, 'zset') or wrongType(K.types, 'list')
  or wrongType(K.pinned, 'list') or wrongType(K.digests, 'list')
if layoutError then return layoutError end

local budget = newBudget()
local createdAt = redis.call('HGET', K.session, 'created_at')
local existed = createdAt ~= false or redis.call('EXISTS', K.session) == 1
local created = existed and (createdAt or '') or A.nowIso
local v = view(K, budget, created)
-- The session's tag before this append (nil when it did not exist), read when asked.
local before = v
local currentTag = nil
local function tagBefore()
  if existed and not currentTag then currentTag = tagOf(before.created, before.llen, before.tail) end
  return currentTag
end
-- Nothing written: the precondition failed (1), or the batch or range was refused (0).
local function refuse(precondition, conflict, range)
  return {'precondition', precondition, 'tag', tagBefore() or false, 'version', v.meta.digests,
    'conflict', conflict or false, 'range', range or false, 'created', 0, 'evicted', 0,
    'stored', {}, 'seqs', {}}
end
local function tagMatches()
  if A.ifMatch == '' then return true end
  local tag = tagBefore()
  if not tag then return false end
  if A.ifMatch == '*' then return true end
  for t in string.gmatch(A.ifMatch, '%S+') do
    if t == tag then return true end
  end
  return false
end
if not tagMatches() then return refuse(1) end
if A.expectVersion ~= '' and tonumber(A.expectVersion) ~= v.meta.digests then return refuse(1) end

-- Whether a stored entry has the type and content of a new one (what a retry repeats
-- exactly): JSON values are prefix-free, so equal bytes followed by the metadata key
-- are equal values.
local function sameEvent(newBody, newHead, newMetaAt, stored)
  local head = entryHead(stored)
  if not head then return false end
  local length = newMetaAt - newHead.typeStart
  return string.sub(stored, head.typeStart, head.typeStart + length - 1)
      == string.sub(newBody, newHead.typeStart, newMetaAt - 1)
    and string.sub(stored, head.typeStart + length, head.typeStart + length + 14) == ', "metadata": {'
end
local function seqOf(stored)
  local seq = string.match(string.sub(stored, -40), '"seq": (%d+)}}$')
  return seq and tonumber(seq) or -1
end

-- The batch: within-batch repeats first (nothing to read), then the stored ones.
local events = {}
local byId = {}
for i = REST, #ARGV, 3 do
  local flags, metaAt, body = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local head = entryHead(body)
  local e = {flags = flags, body = body, head = head, metaAt = metaAt,
    check = string.find(flags, 'c', 1, true) ~= nil}
  if e.check and byId[head.id] then
    local first = byId[head.id]
    if not sameEvent(body, head, metaAt, first.body .. '}}') then return refuse(0, head.id) end
    e.repeatOf = first
  elseif e.check then
    byId[head.id] = e
  end
  events[#events + 1] = e
end

sync(K, v, budget)
local function findStored()
  for _, e in ipairs(events) do
    if e.check and not e.repeatOf then
      local pos, stored = positionOf(K, v, e.head.id, budget)
      if v.drift then return end
      if pos then
        if not sameEvent(e.body, e.head, e.metaAt, stored) then return e.head.id end
        e.storedSeq = seqOf(stored)
      end
    end
  end
end
local conflict = findStored()
if v.drift then
  -- The index pointed at another entry (a Python entry repeated byte for byte):
  -- rebuild it from the list, then look again.
  redis.call('HSET', K.meta, 'drift', 1)
  v = view(K, budget, created)
  sync(K, v, budget)
  for _, e in ipairs(events) do e.storedSeq = nil end
  conflict = findStored()
end
if conflict then return refuse(0, conflict) end

-- The position of a stored event: by the index, else by a walk through the entries
-- below it, as far as the budget goes.
local function findPosition(id)
  local pos = positionOf(K, v, id, budget)
  local p = v.lowest - 1
  while not pos and p >= v.base and not spent(budget) do
    local info = entryInfo(entryAt(K, v, p, budget))
    if info and info.id == id then pos = p end
    p = p - 1
  end
  return pos
end
if A.rangeFrom ~= '' or A.rangeTo ~= '' then
  local from = findPosition(A.rangeFrom)
  if not from then return refuse(0, nil, 'from') end
  local to = findPosition(A.rangeTo)
  if not to then return refuse(0, nil, 'to') end
  if from > to then return refuse(0, nil, 'order') end
end

local createdFlag = 0
if not existed then
  createSession(K, A.sid, A.userId, A.appName, A.nowIso)
  createdFlag = 1
end
local seq, version = v.meta.seq, v.meta.digests
local previous = string.match(v.tail, '^%d+:(.+)$') or false
local items, heads, stored, seqs, pinned, digests, uncopied = {}, {}, {}, {}, {}, {}, false
for _, e in ipairs(events) do
  if e.storedSeq then
    stored[#stored + 1], seqs[#seqs + 1] = 0, e.storedSeq
  elseif e.repeatOf then
    stored[#stored + 1], seqs[#seqs + 1] = 0, e.repeatOf.seq or e.repeatOf.storedSeq or -1
  else
    seq = seq + 1
    e.seq = seq
    local tail = '"seq": ' .. seq .. '}}'
    if string.find(e.flags, 'd', 1, true) then
      version = version + 1
      tail = '"version": ' .. version .. ', ' .. tail
    end
    local item = e.body .. (string.find(e.flags, 'm', 1, true) and ', ' or '') .. tail
    items[#items + 1] = item
    heads[#items] = e.head
    if string.find(e.flags, 'p', 1, true) then pinned[#pinned + 1] = item end
    if string.find(e.flags, 'd', 1, true) then digests[#digests + 1] = item end
    if string.find(e.flags, 'u', 1, true) then uncopied = true end
    stored[#stored + 1], seqs[#seqs + 1] = 1, seq
  end
end
if #items > 0 then
  local fields = {'seq', seq, 'digests', version}
  if uncopied then fields[5], fields[6] = 'uncopied', 1 end
  pushEntries(K, v, items, tonumber(A.maxEvents), heads, fields)
  if #pinned > 0 then
    redis.call('RPUSH', K.pinned, unpack(pinned))
    redis.call('LTRIM', K.pinned, -PINNED_MAX, -1)
  end
  if #digests > 0 then
    redis.call('RPUSH', K.digests, unpack(digests))
    redis.call('LTRIM', K.digests, -DIGESTS_MAX, -1)
  end
end
if #items > 0 or createdFlag == 1 then
  redis.call('HSET', K.session, 'updated_at', A.nowIso)
  redis.call('ZADD', K.index, A.nowScore, A.sid)
end
touch(K, A.ttl, v.meta.hold ~= nil)
local evicted = 0
if createdFlag == 1 then
  evicted = evictOldest(K.index, K.holds, cjson.decode(A.heads), A.sid, tonumber(A.maxSessions))
end
return {'precondition', 0, 'tag', tagOf(created, v.llen, v.tail), 'version', version,
  'conflict', false, 'range', false, 'created', createdFlag, 'evicted', evicted, 'stored', stored, 'seqs', seqs,
  'previous', previous}
