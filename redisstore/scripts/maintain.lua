#!lua flags=allow-oom
-- Bucket maintenance in small steps. Mode 'stats' counts newly expired
-- entries into 'expired'; mode 'cleanup' removes every expired entry. Each
-- call visits at most 'budget' users, so it holds Redis for a short moment
-- only; the caller repeats it while it reports more. It frees memory, so it
-- runs when Redis is out of memory.
-- KEYS: 1 h, 2..17 q0..qf, 18..33 c0..cf; with events on, 34 e, 35 r
-- ARGV: 1 now, 2 mode (stats|cleanup), 3 budget (users to visit),
--       4 user key prefix, 5 session key prefix; with events on (absent
--       when off), 6 the events bound, 7 the actor, 8 the longest an event
--       is kept (ms; by this server's clock, which writes the stream ids),
--       9 the least score of an ended session to keep, 10 '1' to remember
--       why sessions ended
-- Returns { more (1 if the budget ran out), removed, h as field, value, ... }
-- and, with events on, { entries of e, bytes of e, entries of r, bytes of
-- r } (stats), or nothing more (cleanup, which trims e and r by age and
-- records the expired sessions it removes).
local h, mode, budget, uprefix, sprefix = KEYS[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now = tonumber(ARGV[1])
local cleanup = mode == 'cleanup'
local more, removed, expired = 0, 0, 0
local events = ARGV[6] ~= nil
local groups, lapsed = {}, {}

-- drop removes user u's entries scored up to 'upto' (the mark too, when it
-- is in range) with their session keys, and returns how many sessions went.
local function drop(u, uidx, upto)
  local gone = redis.call('ZRANGEBYSCORE', uidx, '-inf', upto)
  local keys, n = {}, 0
  for _, m in ipairs(gone) do
    if m ~= MARK then
      n = n + 1
      keys[#keys + 1] = sprefix .. hashOf(m)
      if events then
        local g = #groups
        groups[g + 1], groups[g + 2] = 'e', 'x'
        if n == 1 then
          groups[g + 3], groups[g + 4] = 'u', u
          g = g + 2
        end
        groups[g + 3], groups[g + 4] = 's', hashOf(m)
        lapsed[#lapsed + 1] = hashOf(m)
      end
      if #keys == 500 then -- unpack has a limit: delete in chunks
        redis.call('DEL', unpack(keys))
        keys = {}
      end
    end
  end
  if #keys > 0 then
    redis.call('DEL', unpack(keys))
  end
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', uidx, '-inf', upto)
  end
  return n
end

-- gone reports whether a user index is now empty (a lone mark counts as
-- empty and is deleted); the caller takes the user out of the queues. An
-- empty zset is deleted by Redis itself. 'dropped' says whether this visit
-- removed sessions: only then did the index exist, and count as a user.
local users = 0
local function gone(uidx, dropped)
  local n = redis.call('ZCARD', uidx)
  if n == 1 and redis.call('ZSCORE', uidx, MARK) then
    redis.call('DEL', uidx)
    n = 0
  end
  if n == 0 then
    if dropped > 0 then
      users = users - 1
    end
    return true
  end
  return false
end

-- requeue puts a user back in its queue at its next uncounted expiry after
-- 'after', or takes it out when there is none.
local function requeue(q, uidx, u, after)
  local nxt = redis.call('ZRANGEBYSCORE', uidx, '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, 2)
  for i = 1, #nxt, 2 do
    if nxt[i] ~= MARK then
      redis.call('ZADD', q, nxt[i + 1], u)
      return
    end
  end
  redis.call('ZREM', q, u)
end

for sub = 0, 15 do
  if budget <= 0 then
    more = 1
    break
  end
  local q, c = KEYS[2 + sub], KEYS[18 + sub]

  if cleanup then
    -- Users whose expired entries an earlier Stats counted: remove those.
    local pending = redis.call('ZRANGE', c, 0, budget - 1)
    for _, u in ipairs(pending) do
      local uidx = uprefix .. u
      local n = drop(u, uidx, counted(uidx))
      removed, expired = removed + n, expired - n
      redis.call('ZREM', c, u)
      if gone(uidx, n) then
        redis.call('ZREM', q, u)
      end
    end
    budget = budget - #pending
  end

  if budget > 0 then
    local due = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, budget + 1)
    if #due > budget then
      more = 1
    end
    for i = 1, math.min(#due, budget) do
      local u = due[i]
      local uidx = uprefix .. u
      local d = counted(uidx)
      local upto = math.max(now, d)
      if cleanup then
        -- Entries up to d were counted already (the mark is one of the
        -- entries up to d); the rest up to now were not: remove all, and
        -- uncount the first.
        if d > 0 then
          expired = expired - (redis.call('ZCOUNT', uidx, '-inf', d) - 1)
          redis.call('ZREM', c, u)
        end
        local n = drop(u, uidx, upto)
        removed = removed + n
        if gone(uidx, n) then
          redis.call('ZREM', q, u)
        else
          requeue(q, uidx, u, upto)
        end
      else
        local n = redis.call('ZCOUNT', uidx, '(' .. d, now)
        if n > 0 then
          expired = expired + n
          redis.call('ZADD', uidx, now, MARK)
          redis.call('ZADD', c, 0, u)
        end
        requeue(q, uidx, u, upto)
      end
    end
    budget = budget - #due
  end
end

hincr(h, 'removed', removed)
hincr(h, 'expired', expired)
hincr(h, 'users', users)
if not events then
  return { more, removed, redis.call('HGETALL', h) }
end
local e, r = KEYS[34], KEYS[35]
if cleanup then
  if #groups > 0 then
    record(e, ARGV[6], ARGV[7], ARGV[1], groups)
    if ARGV[10] == '1' then
      ended(r, ARGV[1], 3, lapsed)
    end
  end
  local t = redis.call('TIME')
  redis.call('XTRIM', e, 'MINID', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[8]))
  redis.call('ZREMRANGEBYSCORE', r, '-inf', '(' .. ARGV[9])
  return { more, removed, redis.call('HGETALL', h) }
end
return { more, removed, redis.call('HGETALL', h), {
  redis.call('XLEN', e), redis.call('MEMORY', 'USAGE', e) or 0,
  redis.call('ZCARD', r), redis.call('MEMORY', 'USAGE', r) or 0 } }
