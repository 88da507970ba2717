#!lua flags=allow-oom
-- Pauses delivery to an endpoint, if the owner holds the lease (which it
-- renews).
-- KEYS: 1 lease, 2 paused
-- ARGV: 1 owner, 2 ttl (ms), 3 the reason
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
