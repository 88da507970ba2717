#!lua flags=allow-oom
-- Removes one session by id: a logout is this one call. Only deletes, so it
-- runs when Redis is out of memory.
-- KEYS: 1 session, 2 h; with events on, 3 e, 4 r
-- ARGV: 1 now; with events on (absent when off), 2 the events bound, 3 the
--       actor, 4 the event code of the invalidation ('il' logout, 'ia'
--       admin), 5 '1' to remember why the session ended
-- Returns { 1, value } invalidated, { 0, value } expired (its entry is
-- removed as cleanup would), or nil when there is no session.
--
-- The user, and so the user index, is known only from the value: the script
-- builds the index's key from the session key's prefix and tag, so it lies in
-- the same hash slot (Redis Cluster) and under the same prefix (ACL key
-- patterns) as KEYS[1]. Passing it in KEYS would take a GET first, a second
-- round trip. The user's queue entries are left to maintenance, which drops
-- users whose index is gone.
local sess, h = KEYS[1], KEYS[2]
local v = redis.call('GETDEL', sess)
if not v then
  return nil
end
if string.byte(v, 1) ~= 1 then
  return redis.error_reply('CORRUPT session value of an unknown format')
end
-- The user id follows the version, the creation time and four uvarints.
local i = 9
for _ = 1, 4 do
  while string.byte(v, i) >= 128 do
    i = i + 1
  end
  i = i + 1
end
local n, shift = 0, 1
repeat
  local b = string.byte(v, i)
  n, shift, i = n + (b % 128) * shift, shift * 128, i + 1
until b < 128
local user = string.sub(v, i, i + n - 1)
local hash = string.sub(sess, -16)
local uidx = string.sub(sess, 1, -18) .. 'u' .. user

local m = memberOf(hash, v)
local sc = redis.call('ZMSCORE', uidx, m, hash, MARK)
local score = sc[1]
if not score then
  m, score = hash, sc[2] -- an entry of the first layout
end
if not score then
  return { 0, v }
end
score = tonumber(score)
local now, d = tonumber(ARGV[1]), 0
if sc[3] then
  d = tonumber(sc[3])
  if d > now then
    now = d
  end
end
redis.call('ZREM', uidx, m)
-- An index left empty (or holding only its mark) goes, and so does the user.
local left = redis.call('ZCARD', uidx)
local empty = left == 0 or (left == 1 and sc[3])
if left == 1 and sc[3] then
  redis.call('DEL', uidx)
end
if score > now then
  if empty then
    redis.call('HINCRBY', h, 'invalidated_last', '1')
  else
    redis.call('HINCRBY', h, 'invalidated', '1')
  end
  if ARGV[2] then
    redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], '*', 'a', ARGV[3], 't', ARGV[1],
      'e', ARGV[4], 'u', user, 's', hash)
    if ARGV[5] == '1' then
      redis.call('ZADD', KEYS[4], tonumber(ARGV[1]) * 4 + 1, hash)
    end
  end
  return { 1, v }
end
if ARGV[2] then
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], '*', 'a', ARGV[3], 't', ARGV[1],
    'e', 'x', 'u', user, 's', hash)
  if ARGV[5] == '1' then
    redis.call('ZADD', KEYS[4], tonumber(ARGV[1]) * 4 + 3, hash)
  end
end
redis.call('HINCRBY', h, 'removed', '1')
if score <= d then
  redis.call('HINCRBY', h, 'expired', '-1')
end
if empty then
  redis.call('HINCRBY', h, 'users', '-1')
end
return { 0, v }
