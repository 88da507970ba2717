#!lua
-- Adds a session and enforces the per-user limit, atomically.
-- KEYS: 1 session, 2 user index, 3 q<sub>, 4 h
-- ARGV: 1 now, 2 id hash, 3 value, 4 expiry (ms), 5 limit (0: none),
--       6 policy (evict-oldest|reject), 7 user id, 8 sub, 9 session key prefix,
--       10 mode: 'create', or 'restore' (from a backup: no limit, not counted
--       as created, an existing id is skipped)
-- Returns { 'added', evicted id hashes... }, or { 'present' } when a restore skipped an
-- existing id, or an error: EXISTS, LIMIT, CLOCK.
-- Under OOM Redis refuses the whole script before it runs: nothing changes.
local sess, uidx, q, h = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, value, exp = ARGV[2], ARGV[3], tonumber(ARGV[4])
local limit, policy, user, sub, sprefix = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local restore = ARGV[10] == 'restore'
if restore then
  limit = 0
end

if redis.call('EXISTS', sess) == 1 or redis.call('ZSCORE', uidx, member) then
  if restore then
    return { 'present' }
  end
  return redis.error_reply('EXISTS session id taken')
end
local d = drained(h, sub)
local now = math.max(tonumber(ARGV[1]), d)
if exp <= now then
  return redis.error_reply('CLOCK expiry not after the bucket clock')
end

local had = redis.call('ZCARD', uidx)
local live = redis.call('ZCOUNT', uidx, '(' .. now, '+inf')
local evict = 0
if limit > 0 and live >= limit then
  if policy == 'reject' then
    return redis.error_reply('LIMIT session limit reached')
  end
  evict = live - limit + 1
end

-- Checks passed: from here on the script only writes.
local total, expired, evicted = 1, 0, { 'added' }
if had > live then
  -- Self-healing index: the user's expired entries go now.
  local gone = redis.call('ZRANGEBYSCORE', uidx, '-inf', now, 'WITHSCORES')
  for i = 1, #gone, 2 do
    redis.call('DEL', sprefix .. gone[i])
    if tonumber(gone[i + 1]) <= d then
      expired = expired - 1
    end
  end
  redis.call('ZREMRANGEBYSCORE', uidx, '-inf', now)
  total = total - #gone / 2
end
if evict > 0 then
  local members = redis.call('ZRANGE', uidx, 0, -1)
  local cand = {}
  for i, m in ipairs(members) do
    cand[i] = { created(redis.call('GETRANGE', sprefix .. m, 0, 7)), m }
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
    evicted[i + 1] = cand[i][2]
  end
  total = total - evict
  hincr(h, 'evicted', evict)
end

redis.call('SET', sess, value, 'PXAT', exp)
redis.call('ZADD', uidx, exp, member)
redis.call('ZADD', q, 'LT', exp, user)
hincr(h, 'total', total)
hincr(h, 'expired', expired)
if not restore then
  hincr(h, 'created', 1)
end
if had == 0 then
  hincr(h, 'users', 1)
end
return evicted
