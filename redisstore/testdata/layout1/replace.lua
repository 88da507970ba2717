#!lua
-- Swaps a session for a new version (touch, refresh) or a new id (rotate) if
-- it is live and unchanged since it was read (compare-and-swap).
-- KEYS: 1 old session, 2 new session (= 1 unless rotating), 3 user index, 4 q<sub>
-- ARGV: 1 now, 2 expected old value, 3 new value, 4 new expiry (ms)
-- Returns 1 done, 0 not found or expired, -1 changed meanwhile, -2 new id taken.
local old, new, uidx, q = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local value, exp = ARGV[3], tonumber(ARGV[4])
local oldm, newm = string.sub(old, -16), string.sub(new, -16)
local user = string.sub(uidx, #old - 16 + 1)

local v = redis.call('GET', old)
if not v then
  return 0
end
local score = redis.call('ZSCORE', uidx, oldm)
local now = math.max(tonumber(ARGV[1]), counted(uidx))
if not score or tonumber(score) <= now or exp <= now then
  return 0
end
if v ~= ARGV[2] then
  return -1
end
if old ~= new then
  if redis.call('EXISTS', new) == 1 then
    return -2
  end
  redis.call('DEL', old)
  redis.call('ZREM', uidx, oldm)
end
redis.call('SET', new, value, 'PXAT', exp)
redis.call('ZADD', uidx, exp, newm)
redis.call('ZADD', q, 'LT', exp, user)
return 1
