-- What one script call may copy out of a session's lists into Lua: entries and
-- bytes. Copying an entry costs Redis time in proportion to its size (about a
-- millisecond per MiB), so every walk stops at this budget (after at least one
-- entry) and says where it stopped, and its caller continues from there.
local BUDGET_ENTRIES, BUDGET_BYTES = 256, 1048576
-- A run (entries one LRANGE copies, see runLength) starts at RUN_FIRST and doubles up
-- to RUN_MAX.
local RUN_FIRST, RUN_MAX = 4, 32
local function newBudget()
  return {entries = BUDGET_ENTRIES, bytes = BUDGET_BYTES, largest = 0}
end
local function spend(budget, item)
  budget.entries = budget.entries - 1
  budget.bytes = budget.bytes - #item
  if #item > budget.largest then budget.largest = #item end
end
local function spent(budget)
  return budget.entries <= 0 or budget.bytes <= 0
end
-- How many entries (1 to `want`) the next LRANGE of a walk may copy, `run` being its
-- previous one (0 for none): at most twice that one, and no more than the budget's
-- entries allow nor, at the largest entry seen so far, its bytes and `bytesLeft`. One
-- command per run instead of a LINDEX per entry halved what a read of 20 costs Redis
-- (docs/decisions.md, "Redis's CPU per request"). Entries are not sized before they
-- are copied, so entries larger than any seen before can take one run past the
-- budget, by at most the rest of that run.
local function runLength(budget, run, want, bytesLeft)
  local n = math.min(want, budget.entries, run > 0 and 2 * run or RUN_FIRST, RUN_MAX)
  if budget.largest > 0 then
    n = math.min(n, math.floor(budget.bytes / budget.largest),
      math.floor(bytesLeft / budget.largest) + 1)
  end
  return math.max(n, 1)
end
