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
-- Per user: u<user>, zset: member = session id hash (16 characters) followed
--          by the session's creation time (7 bytes, Unix microseconds,
--          big-endian, as in the value), score = effective expiry (ms); plus
--          the member MARK, whose score is the time up to which the user's
--          expired entries have been counted (absent: none counted). Entries
--          written before version 2 of the layout are the id hash alone.
-- Per session: s<id hash>, the packed value, expiring at its effective expiry.
-- With events on (the scripts then get the event keys and arguments):
--   e      stream, the bucket's event log: one entry per change, written by
--          the script that makes the change, trimmed to the bound (MAXLEN)
--          and, by cleanup, to the maximum age (MINID). An entry's fields:
--          a <actor>, t <time, ms, the caller's clock>, then one group per
--          event: e <code>, u <user> (left out when the same as the
--          previous event's), s <id hash>, and n <new id hash> (rotated)
--          or v <packed value> (created, restored, updated). Codes: c
--          created, s restored, o rotated, f refreshed, m updated, il ia iA
--          iO invalidated (logout, admin, revoke_all, revoke_others), e
--          evicted, x expired.
--   r      zset, the ended sessions: member = id hash, score = end time (ms)
--          * 4 + why (0 evicted, 1 revoked, 2 rotated, 3 expired); trimmed
--          by cleanup to the revocation memory.
--
-- Numbers handed to redis.call are formatted by Lua with sprintf, which
-- costs more than the call itself: scripts pass the callers' strings (and
-- string literals such as '1') where they can.

-- MARK is not a base64url character, so it never names a session.
local MARK = '~'

local function hincr(h, field, n)
  if n ~= 0 then
    redis.call('HINCRBY', h, field, n)
  end
end

-- hashOf(m): the id hash of an index member (either layout).
local function hashOf(m)
  return string.sub(m, 1, 16)
end

-- memberOf(hash, v): the index member of a session from its id hash and value.
local function memberOf(hash, v)
  return hash .. string.sub(v, 2, 8)
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

-- micros(s, i): the 7 bytes of s from i, big-endian: a creation time in
-- microseconds (below 2^53, so exact in a Lua number); 0 when s is short.
local function micros(s, i)
  local t = 0
  if s and #s >= i + 6 then
    for j = i, i + 6 do
      t = t * 256 + string.byte(s, j)
    end
  end
  return t
end

-- ended(r, t, code, hashes): remembers why sessions ended (see r above),
-- at the caller's time t (ms, a string), in calls of at most 500 members.
local function ended(r, t, code, hashes)
  local score = tonumber(t) * 4 + code
  local args = {}
  for i, hash in ipairs(hashes) do
    args[#args + 1] = score
    args[#args + 1] = hash
    if #args == 1000 or i == #hashes then
      redis.call('ZADD', r, unpack(args))
      args = {}
    end
  end
end

-- record(e, cap, actor, t, groups): appends a change's events to the
-- bucket's log, groups being the events' fields and values (e, u, s, ...)
-- one after the other. A change of more than 500 events takes several
-- entries, each naming its first event's user.
local function record(e, cap, actor, t, groups)
  local i, user = 1, nil
  while i <= #groups do
    local f = { 'a', actor, 't', t }
    local n = 0
    while i <= #groups and (n < 500 or groups[i] ~= 'e') do
      local k, v = groups[i], groups[i + 1]
      f[#f + 1] = k
      f[#f + 1] = v
      if k == 'u' then
        user = v
      elseif k == 'e' then
        n = n + 1
        if n == 1 and user and groups[i + 2] ~= 'u' then
          f[#f + 1] = 'u'
          f[#f + 1] = user
        end
      end
      i = i + 2
    end
    redis.call('XADD', e, 'MAXLEN', cap, '*', unpack(f))
  end
end
