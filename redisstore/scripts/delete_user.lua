#!lua flags=allow-oom
-- Removes every session of a user but one. Only deletes, so it runs when
-- Redis is out of memory.
-- KEYS: 1 user index, 2 h, 3 q<sub>, 4 c<sub>; with events on, 5 e, 6 r
-- ARGV: 1 now, 2 id hash to keep ('' for none), 3 session key prefix; with
--       events on (absent when off), 4 the events bound, 5 the actor, 6 the
--       event code of the invalidations ('iA' revoke_all, 'iO'
--       revoke_others), 7 '1' to remember why the sessions ended
-- Returns { number of live sessions removed, removed id hashes... }.
local uidx, h, q, c, keep, sprefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3]
local user = string.sub(uidx, #sprefix + 1)

local all = redis.call('ZRANGE', uidx, 0, -1, 'WITHSCORES')
local d = 0
for i = 1, #all, 2 do
  if all[i] == MARK then
    d = tonumber(all[i + 1])
  end
end
local now = math.max(tonumber(ARGV[1]), d)
local live, removed, expired = 0, 0, 0
local gone = { 0 }
local events = ARGV[4] ~= nil
local groups, revoked, lapsed = {}, {}, {}
for i = 1, #all, 2 do
  local m, s = all[i], tonumber(all[i + 1])
  if m ~= MARK and hashOf(m) ~= keep then
    redis.call('DEL', sprefix .. hashOf(m))
    redis.call('ZREM', uidx, m)
    removed = removed + 1
    gone[removed + 1] = hashOf(m)
    if s > now then
      live = live + 1
    elseif s <= d then
      expired = expired + 1
    end
    if events then
      local n = #groups
      if s > now then
        groups[n + 1], groups[n + 2] = 'e', ARGV[6]
        revoked[#revoked + 1] = hashOf(m)
      else
        groups[n + 1], groups[n + 2] = 'e', 'x'
        lapsed[#lapsed + 1] = hashOf(m)
      end
      if n == 0 then
        groups[n + 3], groups[n + 4] = 'u', user
        n = n + 2
      end
      groups[n + 3], groups[n + 4] = 's', hashOf(m)
    end
  end
end
hincr(h, 'removed', removed - live)
hincr(h, 'expired', -expired)
hincr(h, 'invalidated', live)
if removed > 0 then
  emptied(uidx, h, q, c, user)
end
if #groups > 0 then
  record(KEYS[5], ARGV[4], ARGV[5], ARGV[1], groups)
  if ARGV[7] == '1' then
    ended(KEYS[6], ARGV[1], 1, revoked)
    ended(KEYS[6], ARGV[1], 3, lapsed)
  end
end
gone[1] = tostring(live)
return gone
