#!lua flags=allow-oom
-- Bucket maintenance, bounded: counts newly expired entries into 'expired'
-- (mode stats and cleanup) and removes counted entries (mode cleanup). It
-- frees memory, so it runs when Redis is out of memory.
-- KEYS: 1 h, 2..17 q0..qf, 18..33 c0..cf
-- ARGV: 1 now, 2 mode (stats|cleanup), 3 budget (users to visit),
--       4 user key prefix, 5 session key prefix
-- Returns { more (1 if the budget ran out), removed, h as field, value, ... }.
local h, mode, budget, uprefix, sprefix = KEYS[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local more, removed = 0, 0

for sub = 0, 15 do
  if budget <= 0 then
    more = 1
    break
  end
  local q, c = KEYS[2 + sub], KEYS[18 + sub]
  local field = 'drained:' .. string.format('%x', sub)
  local d = num(redis.call('HGET', h, field))
  local now = tonumber(ARGV[1])

  if now > d then
    local due = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'WITHSCORES', 'LIMIT', 0, budget + 1)
    local upto, n = now, #due / 2
    if n > budget then
      -- Stop short of the first user left out, so every entry up to 'upto'
      -- is counted exactly once.
      local next = tonumber(due[2 * budget + 2])
      upto, n = next - 1, budget
      if upto <= d then
        -- More users than the budget share one expiry: take them all.
        upto = next
        due = redis.call('ZRANGEBYSCORE', q, '-inf', upto, 'WITHSCORES')
        n = #due / 2
      end
      more = 1
    end
    local counted = 0
    for i = 1, n do
      if tonumber(due[2 * i]) <= upto then
        local u = due[2 * i - 1]
        local uidx = uprefix .. u
        counted = counted + redis.call('ZCOUNT', uidx, '(' .. d, upto)
        local nxt = redis.call('ZRANGEBYSCORE', uidx, '(' .. upto, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        if #nxt > 0 then
          redis.call('ZADD', q, nxt[2], u)
        else
          redis.call('ZREM', q, u)
        end
        if #redis.call('ZRANGEBYSCORE', uidx, '-inf', upto, 'LIMIT', 0, 1) > 0 then
          redis.call('ZADD', c, 0, u)
        end
      end
    end
    hincr(h, 'expired', counted)
    redis.call('HSET', h, field, upto)
    d = upto
    budget = budget - n
  end

  if mode == 'cleanup' and budget > 0 then
    local users = redis.call('ZRANGE', c, 0, budget - 1)
    for _, u in ipairs(users) do
      local uidx = uprefix .. u
      local gone = redis.call('ZRANGEBYSCORE', uidx, '-inf', d)
      if #gone > 0 then
        for _, m in ipairs(gone) do
          redis.call('DEL', sprefix .. m)
        end
        redis.call('ZREMRANGEBYSCORE', uidx, '-inf', d)
        removed = removed + #gone
        if redis.call('EXISTS', uidx) == 0 then
          hincr(h, 'users', -1)
        end
      end
      redis.call('ZREM', c, u)
    end
    budget = budget - #users
    if budget <= 0 and redis.call('EXISTS', c) == 1 then
      more = 1
    end
  end
end

hincr(h, 'removed', removed)
hincr(h, 'expired', -removed)
return { more, removed, redis.call('HGETALL', h) }
