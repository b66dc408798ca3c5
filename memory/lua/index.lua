-- Brings a session's index up to its list (after a read found it behind: entries
-- written straight to Redis, or a session written before the index existed), or
-- rebuilds it (after a read found it pointing at another entry). A write of the
-- index only, in MULTI like every write; within the budget, so it may take several.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key meta     hash: what the index covers, the hold
-- @key ids      zset: event id -> position
-- @key types    list: the type token of each indexed position
-- @key pinned   list: copies of pinned events
-- @key digests  list: copies of digests
-- @arg rebuild  1 to rebuild the index from the list, else 0
-- @return stale 0|1 (more is left to index)
--!include budget.lua
--!include entry.lua
--!include session.lua
local created = redis.call('HGET', K.session, 'created_at')
if not created and redis.call('LLEN', K.events) == 0 then return {'stale', 0} end
if A.rebuild == '1' then redis.call('HSET', K.meta, 'drift', 1) end
local budget = newBudget()
local v = view(K, budget, created or '')
sync(K, v, budget)
followTtl(K)
return {'stale', v.stale and 1 or 0}
