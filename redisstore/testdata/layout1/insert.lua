#!lua
-- Adds a session and enforces the per-user limit, atomically.
-- KEYS: 1 session, 2 user index, 3 q<sub>, 4 h
-- ARGV: 1 now, 2 value, 3 expiry (ms), 4 limit (0: none), 5 flags: 'r' to
--       reject at the limit (else evict the oldest), 'R' for a restore from a
--       backup (no limit, counted as restored, an existing id is skipped)
-- The id hash, the user id and the session key prefix are read off KEYS.
-- Returns { 'added', evicted id hashes... }; for a restore, { 'present' } when
-- the id exists or { 'expired' } when the session is over; or an error:
-- EXISTS, LIMIT, CLOCK.
-- Under OOM Redis refuses the whole script before it runs: nothing changes.
-- The common case (a user under the limit, nothing expired) is four calls.
local sess, uidx, q, h = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local value, exp, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local reject, restore = ARGV[5] == 'r', ARGV[5] == 'R'
local member = string.sub(sess, -16)
local sprefix = string.sub(sess, 1, -17)
local user = string.sub(uidx, #sprefix + 1)
if restore then
  limit = 0
end

-- The user's entries and the mark of counted expirations. With a limit, all
-- of them (a few: the limit bounds them) in one call; without one a user may
-- have many, so only their number and the expired ones are read.
local entries = {}
local d = 0
local had, live, first_live = 0, 0, nil
local now
if limit > 0 then
  entries = redis.call('ZRANGE', uidx, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    if entries[i] == MARK then
      d = tonumber(entries[i + 1])
    end
  end
  now = math.max(tonumber(ARGV[1]), d)
  for i = 1, #entries, 2 do
    if entries[i] ~= MARK then
      had = had + 1
      local s = tonumber(entries[i + 1])
      if s > now then
        live = live + 1
        first_live = first_live or s
      end
    end
  end
else
  d = counted(uidx)
  now = math.max(tonumber(ARGV[1]), d)
  had = redis.call('ZCARD', uidx)
  if d > 0 then
    had = had - 1
  end
  -- The expired ones, a bounded batch at a time (Cleanup takes the rest).
  local expired = redis.call('ZRANGEBYSCORE', uidx, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #expired, 2 do
    if expired[i] ~= MARK then
      entries[#entries + 1] = expired[i]
      entries[#entries + 1] = expired[i + 1]
    end
  end
  live = had - #entries / 2
end
if exp <= now then
  if restore then
    return { 'expired' } -- over by the user's clock of record: nothing to restore
  end
  return redis.error_reply('CLOCK expiry not after the clock of record')
end
local evict = 0
if limit > 0 and live >= limit then
  if reject then
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
    local m, s = entries[i], tonumber(entries[i + 1])
    if m ~= MARK and s <= now then
      redis.call('DEL', sprefix .. m)
      redis.call('ZREM', uidx, m)
      if s <= d then
        expired = expired + 1
      end
    end
  end
  hincr(h, 'removed', had - live)
  hincr(h, 'expired', -expired)
end
if evict > 0 then
  -- The live sessions' creation times, read with one MGET.
  local members, keys = {}, {}
  for i = 1, #entries, 2 do
    if entries[i] ~= MARK and tonumber(entries[i + 1]) > now then
      members[#members + 1] = entries[i]
      keys[#keys + 1] = sprefix .. entries[i]
    end
  end
  local values = redis.call('MGET', unpack(keys))
  local cand = {}
  for i, m in ipairs(members) do
    cand[i] = { created(values[i]), m }
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
