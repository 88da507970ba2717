#!lua flags=allow-oom
-- Queues dead letters for another try (sessionctl webhooks retry).
-- KEYS: 1 dead letters, 2 queue
-- ARGV: 1 now (ms), then the event ids; none: every dead letter
-- Returns the ids queued.
local ids = {}
if #ARGV == 1 then
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  for i = 2, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
end
local queued = {}
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], id)
    queued[#queued + 1] = id
  end
end
return queued
