-- Refuses a write before it changes anything when a key of the layout holds another
-- type (written by something else): scripts are atomic but not rolled back.
local function wrongType(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('kaos-layout: ' .. key .. ' holds a ' .. t .. ', not a ' .. want)
  end
  return nil
end
