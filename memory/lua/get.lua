-- A session's fields, its event count and its tag, read-only.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key meta     hash: what the index covers
-- @key ids      zset: event id -> position
-- @return session (HGETALL; empty when absent), count (events a reader returns), tag,
--   stale 0|1 (the index is behind the list), version (the digest version an append
--   would check expectVersion against)
--!include budget.lua
--!include entry.lua
--!include session.lua
local fields = redis.call('HGETALL', K.session)
if #fields == 0 then return {'session', fields, 'count', 0, 'tag', false, 'stale', 0, 'version', 0} end
local createdAt = redis.call('HGET', K.session, 'created_at') or ''
local v = view(K, newBudget(), createdAt)
-- Another session under the same id starts again from version 0 (sync, at its next append).
local version = v.meta.created == createdAt and v.meta.digests or 0
return {'session', fields, 'count', countOf(K, v), 'tag', tagOf(createdAt, v.llen, v.tail),
  'stale', v.stale and 1 or 0, 'version', version}
