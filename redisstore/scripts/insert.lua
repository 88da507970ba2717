#!lua
-- Adds a session and enforces the per-user limit, atomically.
-- KEYS: 1 session, 2 user index, 3 q<sub>, 4 h
-- ARGV: 1 now, 2 id hash, 3 value, 4 expiry (ms), 5 limit (0: none),
--       6 policy (evict-oldest|reject), 7 user id, 8 sub, 9 session key prefix,
--       10 mode: 'create', or 'restore' (from a backup: no limit, counted as
--       restored, an existing id is skipped)
-- Returns { 'added', evicted id hashes... }; for a restore, { 'present' } when
-- the id exists or { 'expired' } when the session is over; or an error:
-- EXISTS, LIMIT, CLOCK.
-- Under OOM Redis refuses the whole script before it runs: nothing changes.
-- The common case (a user under the limit, nothing expired) is five calls.
local sess, uidx, q, h = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, value, exp = ARGV[2], ARGV[3], tonumber(ARGV[4])
local limit, policy, user, sub, sprefix = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local restore = ARGV[10] == 'restore'
if restore then
  limit = 0
end

local d = drained(h, sub)
local now = math.max(tonumber(ARGV[1]), d)
if exp <= now then
  if restore then
    return { 'expired' } -- over by the bucket's clock: nothing to restore
  end
  return redis.error_reply('CLOCK expiry not after the bucket clock')
end

-- The user's entries, earliest expiry first (a few: the limit bounds them).
local entries = redis.call('ZRANGE', uidx, 0, -1, 'WITHSCORES')
local had = #entries / 2
local live, first_live = 0, nil
for i = 2, #entries, 2 do
  local s = tonumber(entries[i])
  if s > now then
    live = live + 1
    first_live = first_live or s
  end
end
local evict = 0
if limit > 0 and live >= limit then
  if policy == 'reject' then
    return redis.error_reply('LIMIT session limit reached')
  end
  evict = live - limit + 1
end

-- The last check: a taken id. From here on the script only writes.
if not redis.call('SET', sess, value, 'PXAT', exp, 'NX') then
  if restore then
    return { 'present' }
  end
  return redis.error_reply('EXISTS session id taken')
end

local reply = { 'added' }
if had > live then
  -- Self-healing index: the user's expired entries go now.
  local expired = 0
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) <= now then
      redis.call('DEL', sprefix .. entries[i])
      redis.call('ZREM', uidx, entries[i])
      if tonumber(entries[i + 1]) <= d then
        expired = expired + 1
      end
    end
  end
  hincr(h, 'removed', had - live)
  hincr(h, 'expired', -expired)
end
if evict > 0 then
  local cand = {}
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) > now then
      local m = entries[i]
      cand[#cand + 1] = { created(redis.call('GETRANGE', sprefix .. m, 0, 7)), m }
    end
  end
  table.sort(cand, function(a, b)
    if a[1] ~= b[1] then
      return a[1] < b[1]
    end
    return less(a[2], b[2])
  end)
  for i = 1, evict do
    redis.call('DEL', sprefix .. cand[i][2])
    redis.call('ZREM', uidx, cand[i][2])
    reply[i + 1] = cand[i][2]
  end
  hincr(h, 'evicted', evict)
  first_live = nil -- the earliest may be gone: let ZADD LT decide
end

redis.call('ZADD', uidx, exp, member)
-- The queue already holds this user no later than its earliest uncounted
-- expiry; only an earlier expiry, or a user new to the queue, needs a write.
if not first_live or exp < first_live then
  redis.call('ZADD', q, 'LT', exp, user)
end
if restore then
  hincr(h, 'restored', 1)
else
  hincr(h, 'created', 1)
end
if had == 0 then
  hincr(h, 'users', 1)
end
return reply
