-- Helpers shared by every script. The Go side inserts this file after each
-- script's #! line, so each script stays a single EVAL.
--
-- Per bucket (one Redis Cluster slot, the {tag} in every key) the scripts keep:
--   h      hash of counters: created, restored, evicted, invalidated and
--          removed (expired entries taken out of the indexes), so that the
--          bucket's indexes hold created + restored - evicted - invalidated -
--          removed entries; expired (entries counted as expired, not yet
--          removed) and users (user indexes)
--   q<sub> zset: user -> earliest expiry among the user's entries not yet
--          counted as expired (may be early, never late)
--   c<sub> zset: users with counted expired entries awaiting cleanup
-- Per user: u<user>, zset: session id hash -> effective expiry (ms), plus
--          the member MARK, whose score is the time up to which the user's
--          expired entries have been counted (absent: none counted).
-- Per session: s<id hash>, the packed value, expiring at its effective expiry.

-- MARK is not a base64url character, so it never names a session.
local MARK = '~'

local function hincr(h, field, n)
  if n ~= 0 then
    redis.call('HINCRBY', h, field, n)
  end
end

-- counted(uidx): the time up to which the user's expirations are counted.
local function counted(uidx)
  return tonumber(redis.call('ZSCORE', uidx, MARK) or '0')
end

-- emptied(uidx, h, q, c, user): after removals, drops a user index that
-- holds nothing but its mark, and the user from the queues. Returns true if
-- the user has no sessions left.
local function emptied(uidx, h, q, c, user)
  local n = redis.call('ZCARD', uidx)
  if n == 0 or (n == 1 and redis.call('ZSCORE', uidx, MARK)) then
    redis.call('DEL', uidx)
    redis.call('ZREM', q, user)
    redis.call('ZREM', c, user)
    hincr(h, 'users', -1)
    return true
  end
  return false
end

-- less(a, b): byte-wise string order (Lua's < follows the server's locale).
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- created(v): a session value's creation time in microseconds, bytes 2..8
-- big-endian (below 2^53, so exact in a Lua number).
local function created(v)
  local t = 0
  if v and #v >= 8 then
    for i = 2, 8 do
      t = t * 256 + string.byte(v, i)
    end
  end
  return t
end
