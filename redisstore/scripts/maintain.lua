#!lua flags=allow-oom
-- Bucket maintenance in small steps. Mode 'stats' counts newly expired
-- entries into 'expired'; mode 'cleanup' removes every expired entry. Each
-- call visits at most 'budget' users, so it holds Redis for a short moment
-- only; the caller repeats it while it reports more. It frees memory, so it
-- runs when Redis is out of memory.
-- KEYS: 1 h, 2..17 q0..qf, 18..33 c0..cf
-- ARGV: 1 now, 2 mode (stats|cleanup), 3 budget (users to visit),
--       4 user key prefix, 5 session key prefix
-- Returns { more (1 if the budget ran out), removed, h as field, value, ... }.
local h, mode, budget, uprefix, sprefix = KEYS[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now = tonumber(ARGV[1])
local cleanup = mode == 'cleanup'
local more, removed, expired = 0, 0, 0

-- drop removes a user's entries scored up to 'upto' and their session keys,
-- and returns how many it removed.
local function drop(uidx, upto)
  local gone = redis.call('ZRANGEBYSCORE', uidx, '-inf', upto)
  if #gone == 0 then
    return 0
  end
  for i = 1, #gone, 500 do -- unpack has a limit: delete in chunks
    local keys = {}
    for j = i, math.min(i + 499, #gone) do
      keys[#keys + 1] = sprefix .. gone[j]
    end
    redis.call('DEL', unpack(keys))
  end
  redis.call('ZREMRANGEBYSCORE', uidx, '-inf', upto)
  if redis.call('EXISTS', uidx) == 0 then
    hincr(h, 'users', -1)
  end
  return #gone
end

for sub = 0, 15 do
  if budget <= 0 then
    more = 1
    break
  end
  local q, c = KEYS[2 + sub], KEYS[18 + sub]
  local field = 'drained:' .. string.format('%x', sub)
  local d = num(redis.call('HGET', h, field))

  if cleanup then
    -- Users whose expired entries an earlier Stats counted: remove those.
    local users = redis.call('ZRANGE', c, 0, budget - 1)
    for _, u in ipairs(users) do
      local n = drop(uprefix .. u, d)
      removed, expired = removed + n, expired - n
      redis.call('ZREM', c, u)
    end
    budget = budget - #users
    if budget <= 0 then
      more = 1
      break
    end
  end

  if now > d then
    local due = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'WITHSCORES', 'LIMIT', 0, budget + 1)
    local upto, n = now, #due / 2
    if n > budget then
      -- Stop short of the first user left out, so that every entry up to
      -- 'upto' is seen exactly once.
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
    for i = 1, n do
      if tonumber(due[2 * i]) <= upto then
        local u = due[2 * i - 1]
        local uidx = uprefix .. u
        if cleanup then
          -- Entries up to d were counted as expired already; the rest
          -- (d, upto] were not: remove both, uncount the first.
          local counted = redis.call('ZCOUNT', uidx, '-inf', d)
          removed = removed + drop(uidx, upto)
          expired = expired - counted
          redis.call('ZREM', c, u)
        else
          local n = redis.call('ZCOUNT', uidx, '(' .. d, upto)
          expired = expired + n
          if n > 0 then
            redis.call('ZADD', c, 0, u)
          end
        end
        local nxt = redis.call('ZRANGEBYSCORE', uidx, '(' .. upto, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        if #nxt > 0 then
          redis.call('ZADD', q, nxt[2], u)
        else
          redis.call('ZREM', q, u)
        end
      end
    end
    redis.call('HSET', h, field, upto)
    budget = budget - n
  end
end

hincr(h, 'removed', removed)
hincr(h, 'expired', expired)
return { more, removed, redis.call('HGETALL', h) }
