#!lua flags=allow-oom
-- Removes one session if it is unchanged since it was read. Only deletes, so
-- it runs when Redis is out of memory.
-- KEYS: 1 session, 2 user index, 3 h, 4 q<sub>, 5 c<sub>
-- ARGV: 1 now, 2 expected value
-- Returns 1 invalidated, 0 not found (an expired entry is removed as cleanup
-- would), -1 changed meanwhile.
local sess, uidx, h, q, c = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member = string.sub(sess, -16)
local user = string.sub(uidx, #sess - 16 + 1)

local v = redis.call('GET', sess)
if v and v ~= ARGV[2] then
  return -1
end
local score = redis.call('ZSCORE', uidx, member)
if not v and not score then
  return 0
end
redis.call('DEL', sess)
if not score then
  return 0
end
score = tonumber(score)
local d = counted(uidx)
local now = math.max(tonumber(ARGV[1]), d)
redis.call('ZREM', uidx, member)
if score <= d then
  hincr(h, 'expired', -1)
end
emptied(uidx, h, q, c, user)
if v and score > now then
  hincr(h, 'invalidated', 1)
  return 1
end
hincr(h, 'removed', 1)
return 0
