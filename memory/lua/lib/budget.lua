-- What one script call may copy out of a session's lists into Lua: entries and
-- bytes. Copying an entry costs Redis time in proportion to its size (about a
-- millisecond per MiB), so every walk stops at this budget (after at least one
-- entry) and says where it stopped, and its caller continues from there.
local BUDGET_ENTRIES, BUDGET_BYTES = 256, 1048576
local function newBudget()
  return {entries = BUDGET_ENTRIES, bytes = BUDGET_BYTES}
end
local function spend(budget, item)
  budget.entries = budget.entries - 1
  budget.bytes = budget.bytes - #item
end
local function spent(budget)
  return budget.entries <= 0 or budget.bytes <= 0
end
