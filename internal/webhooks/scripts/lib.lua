-- bury adds a dead letter: its id to the endpoint's dead letters (a zset
-- scored by the time it died) and its record beside them, then drops the
-- oldest past max, returning how many it dropped. The records of dropped
-- ids are named from the zset's own key (same prefix, same hash tag: same
-- slot), as they are found in the data.
local function bury(dead, record, id, value, score, max)
  redis.call('ZADD', dead, score, id)
  redis.call('SET', record, value)
  local over = redis.call('ZCARD', dead) - tonumber(max)
  if over <= 0 then
    return 0
  end
  local base = string.sub(dead, 1, -2)
  for _, old in ipairs(redis.call('ZRANGE', dead, 0, over - 1)) do
    redis.call('ZREM', dead, old)
    redis.call('DEL', base .. 'e' .. old)
  end
  return over
end

