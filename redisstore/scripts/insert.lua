#!lua
-- Adds a session and enforces the per-user limit, atomically.
-- KEYS: 1 session, 2 user index, 3 q<sub>, 4 h; with events on, 5 e, 6 r
-- ARGV: 1 now, 2 value, 3 expiry (ms), 4 limit (0: none), 5 flags: 'r' to
--       reject at the limit (else evict the oldest), 'R' for a restore from a
--       backup (no limit, counted as restored, an existing id is skipped),
--       6 the index member (id hash and creation time), 7 the user id;
--       with events on (absent when off), 8 the events bound, 9 the actor,
--       10 the id hash, 11 '1' to remember why evicted and expired sessions
--       ended
-- The member and user are passed rather than cut from KEYS and the value:
-- each string Lua makes costs Redis a fraction of a microsecond.
-- Returns { 'added', evicted id hashes... }; { 'limit' } when the reject
-- policy refuses (a plain reply: an error reply costs Redis more than the
-- refusal's reads); for a restore, { 'present' } when the id exists or
-- { 'expired' } when the session is over; or an error: EXISTS, CLOCK.
-- Under OOM Redis refuses the whole script before it runs: nothing changes.
-- A create is one read, the SET, the ZADD and one counter write; a new
-- user's adds the queue entry, one at the limit the eviction (a DEL and a
-- ZREM). Each counter write names the whole event (see h in lib.lua).
-- With events on, one XADD records the change: the creation (or
-- restoration), and the sessions it evicted or found expired.
local sess, uidx, q, h = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local value, exps, limit, flag = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local exp = tonumber(exps)
local restore = flag == 'R'
local member, user = ARGV[6], ARGV[7]
if restore then
  limit = 0
end

-- The user's entries and the mark of counted expirations. With a limit, all
-- of them (a few: the limit bounds them) in one call; without one a user may
-- have many, so only their number and the mark are read.
local now = tonumber(ARGV[1])
if flag == 'r' and limit > 0 and redis.call('ZCOUNT', uidx, '(' .. ARGV[1], '+inf') >= limit then
  -- A refusal reads as little as it can: the live count is exact unless
  -- the mark is later than now (a clock behind the one that counted).
  local m = redis.call('ZSCORE', uidx, MARK)
  if not m or tonumber(m) <= now then
    return { 'limit' }
  end
end
local d = 0
local had = 0 -- entries, the mark aside
local lm, ls = {}, {} -- live entries: members, scores
local gone = {} -- expired entries (with a limit): members
local gone_counted = 0 -- how many of those were counted as expired
if limit > 0 then
  -- ZSCAN returns a small (listpack) index whole, its scores as stored:
  -- integers, where ZRANGE WITHSCORES would format each as a double.
  local all = redis.call('ZSCAN', uidx, 0)
  if all[1] == '0' then
    all = all[2]
  else
    all = redis.call('ZRANGE', uidx, 0, -1, 'WITHSCORES')
  end
  for i = 1, #all, 2 do
    if all[i] == MARK then
      d = tonumber(all[i + 1])
    end
  end
  if d > now then
    now = d
  end
  for i = 1, #all, 2 do
    local m = all[i]
    if m ~= MARK then
      had = had + 1
      local s = tonumber(all[i + 1])
      if s > now then
        lm[#lm + 1], ls[#ls + 1] = m, s
      else
        gone[#gone + 1] = m
        if s <= d then
          gone_counted = gone_counted + 1
        end
      end
    end
  end
else
  had = redis.call('ZCARD', uidx)
  if had > 0 then
    local m = redis.call('ZSCORE', uidx, MARK)
    if m then
      had, d = had - 1, tonumber(m)
      if d > now then
        now = d
      end
    end
  end
end
if exp <= now then
  if restore then
    return { 'expired' } -- over by the user's clock of record: nothing to restore
  end
  return redis.error_reply('CLOCK expiry not after the clock of record')
end
local evict = 0
if limit > 0 and #lm >= limit then
  if flag == 'r' then
    return { 'limit' }
  end
  evict = #lm - limit + 1
end

-- The last check: a taken id. From here on the script only writes.
if not redis.call('SET', sess, value, 'PXAT', exps, 'NX') then
  if restore then
    return { 'present' }
  end
  return redis.error_reply('EXISTS session id taken')
end

local reply = { 'added' }
if #gone > 0 then
  -- Self-healing index: the user's expired entries go now.
  local sprefix = string.sub(sess, 1, -17) -- session key = sprefix .. id hash
  local keys = {}
  for i, m in ipairs(gone) do
    keys[i] = sprefix .. hashOf(m)
  end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', uidx, unpack(gone))
  hincr(h, 'removed', #gone)
  hincr(h, 'expired', -gone_counted)
end
local evicted = {} -- index in lm -> true
if evict > 0 then
  -- The oldest by creation time, which members carry; entries of the first
  -- layout do not, and their values are read.
  local sprefix = string.sub(sess, 1, -17)
  local created = {}
  local old, oldkeys = {}, {}
  for i, m in ipairs(lm) do
    if #m == 23 then
      created[i] = micros(m, 17)
    else
      old[#old + 1] = i
      oldkeys[#oldkeys + 1] = sprefix .. m
    end
  end
  if #old > 0 then
    local values = redis.call('MGET', unpack(oldkeys))
    for j, i in ipairs(old) do
      created[i] = micros(values[j], 2)
    end
  end
  local keys, members = {}, {}
  for k = 1, evict do
    local best
    for i = 1, #lm do
      if not evicted[i] and (not best or created[i] < created[best]
          or (created[i] == created[best] and less(hashOf(lm[i]), hashOf(lm[best])))) then
        best = i
      end
    end
    evicted[best] = true
    keys[k], members[k] = sprefix .. hashOf(lm[best]), lm[best]
    reply[k + 1] = hashOf(lm[best])
  end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', uidx, unpack(members))
end

redis.call('ZADD', uidx, exps, member)
-- The queue holds this user no later than its earliest uncounted expiry: a
-- remaining live entry that expires no later than the new one proves the
-- queue needs no write. Without a limit the entries were not read.
local first
if limit > 0 then
  for i = 1, #lm do
    if not evicted[i] and (not first or ls[i] < first) then
      first = ls[i]
    end
  end
end
if not first or exp < first then
  redis.call('ZADD', q, 'LT', exps, user)
end
if restore then
  hincr(h, 'restored', 1)
  if had == 0 then
    hincr(h, 'users', 1)
  end
elseif had == 0 then
  redis.call('HINCRBY', h, 'created_new_user', '1')
elseif evict == 1 then
  redis.call('HINCRBY', h, 'created_evicting', '1')
else
  redis.call('HINCRBY', h, 'created', '1')
  hincr(h, 'evicted', evict)
end

if ARGV[8] then
  local code = 'c'
  if restore then
    code = 's'
  end
  if #reply == 1 and #gone == 0 then
    redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[8], '*', 'a', ARGV[9], 't', ARGV[1],
      'e', code, 'u', user, 's', ARGV[10], 'v', value)
  else
    local groups = { 'e', code, 'u', user, 's', ARGV[10], 'v', value }
    local evicted_hashes, gone_hashes = {}, {}
    local n = #groups
    for k = 2, #reply do
      groups[n + 1], groups[n + 2], groups[n + 3], groups[n + 4] = 'e', 'e', 's', reply[k]
      n = n + 4
      evicted_hashes[k - 1] = reply[k]
    end
    for k, m in ipairs(gone) do
      gone_hashes[k] = hashOf(m)
      groups[n + 1], groups[n + 2], groups[n + 3], groups[n + 4] = 'e', 'x', 's', gone_hashes[k]
      n = n + 4
    end
    record(KEYS[5], ARGV[8], ARGV[9], ARGV[1], groups)
    if ARGV[11] == '1' then
      ended(KEYS[6], ARGV[1], 0, evicted_hashes)
      ended(KEYS[6], ARGV[1], 3, gone_hashes)
    end
  end
end
return reply
