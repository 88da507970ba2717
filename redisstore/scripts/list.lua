#!lua flags=no-writes
-- Reads a user's live sessions.
-- KEYS: 1 user index
-- ARGV: 1 now, 2 session key prefix
-- Returns id hash, value, id hash, value, ...
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local out = {}
for _, m in ipairs(members) do
  local v = redis.call('GET', ARGV[2] .. hashOf(m))
  if v then
    out[#out + 1] = hashOf(m)
    out[#out + 1] = v
  end
end
return out
