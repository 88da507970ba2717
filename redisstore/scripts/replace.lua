#!lua
-- Swaps a session for a new version (touch, refresh) or a new id (rotate) if
-- it is live and unchanged since it was read (compare-and-swap).
-- KEYS: 1 old session, 2 new session (= 1 unless rotating), 3 user index,
--       4 q<sub>; with events on, 5 e, 6 r
-- ARGV: 1 now, 2 expected old value, 3 new value, 4 new expiry (ms); with
--       events on (absent when off), 5 the events bound, 6 the actor, 7 the
--       event of a change that keeps the id ('f' refreshed, 'm' updated, ''
--       none: a touch), 8 '1' to remember that a rotated id ended
-- Returns 1 done, 0 not found or expired, -1 changed meanwhile, -2 new id taken.
local old, new, uidx, q = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local value, exps = ARGV[3], ARGV[4]
local exp = tonumber(exps)
local oldh = string.sub(old, -16)
local oldm, newm = memberOf(oldh, ARGV[2]), memberOf(string.sub(new, -16), value)
local user = string.sub(uidx, #old - 16 + 1)

local v = redis.call('GET', old)
if not v then
  return 0
end
-- The entry (in either layout) and the mark, in one call.
local sc = redis.call('ZMSCORE', uidx, oldm, oldh, MARK)
local entry, score = oldm, sc[1]
if not score then
  entry, score = oldh, sc[2]
end
local now = tonumber(ARGV[1])
if sc[3] and tonumber(sc[3]) > now then
  now = tonumber(sc[3])
end
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
end
if entry ~= newm then
  redis.call('ZREM', uidx, entry) -- a rotation, or an entry of the first layout
end
redis.call('SET', new, value, 'PXAT', exps)
redis.call('ZADD', uidx, exps, newm)
-- The queue held this user no later than the old score: only an earlier
-- expiry needs a write.
if exp < tonumber(score) then
  redis.call('ZADD', q, 'LT', exps, user)
end
if ARGV[5] then
  if old ~= new then
    redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[5], '*', 'a', ARGV[6], 't', ARGV[1],
      'e', 'o', 'u', user, 's', oldh, 'n', string.sub(new, -16))
    if ARGV[8] == '1' then
      redis.call('ZADD', KEYS[6], tonumber(ARGV[1]) * 4 + 2, oldh)
    end
  elseif ARGV[7] == 'm' then
    redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[5], '*', 'a', ARGV[6], 't', ARGV[1],
      'e', 'm', 'u', user, 's', oldh, 'v', value)
  elseif ARGV[7] == 'f' then
    redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[5], '*', 'a', ARGV[6], 't', ARGV[1],
      'e', 'f', 'u', user, 's', oldh)
  end
end
return 1
