#!lua flags=allow-oom
-- Takes or renews an endpoint's lease.
-- KEYS: 1 lease
-- ARGV: 1 owner, 2 ttl (ms), 3 mode: 'acquire' takes a free lease or
-- renews the owner's; 'renew' only renews the owner's.
-- Returns 1 when the owner holds the lease, 0 otherwise.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or (holder == false and ARGV[3] == 'acquire') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
