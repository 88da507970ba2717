#!lua flags=allow-oom
-- Gives up an endpoint's lease if the owner holds it.
-- KEYS: 1 lease
-- ARGV: 1 owner
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
