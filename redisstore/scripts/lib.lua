-- Helpers shared by every script. The Go side inserts this file after each
-- script's #! line, so each script stays a single EVAL.
--
-- Per bucket (one Redis Cluster slot, the {tag} in every key) the scripts keep:
--   h      hash of counters: created, restored, evicted, invalidated and
--          removed (expired entries taken out of the indexes), so that the
--          bucket's indexes hold created + restored - evicted - invalidated -
--          removed entries; expired, users; and drained:<sub>, the time up to
--          which each sub-bucket's expirations have been counted into 'expired'
--   q<sub> zset: user -> earliest expiry among the user's entries not yet
--          counted as expired (may be early, never late)
--   c<sub> zset: users with counted expired entries awaiting cleanup
-- Per user: u<user>, zset: session id hash -> effective expiry (ms).
-- Per session: s<id hash>, the packed value, expiring at its effective expiry.

local function num(v)
  return tonumber(v) or 0
end

local function hincr(h, field, n)
  if n ~= 0 then
    redis.call('HINCRBY', h, field, n)
  end
end

-- drained(h, sub): the watermark of a sub-bucket.
local function drained(h, sub)
  return num(redis.call('HGET', h, 'drained:' .. sub))
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
