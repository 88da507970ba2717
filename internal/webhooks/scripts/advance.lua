#!lua flags=allow-oom
-- Moves an endpoint's cursor on after its events were delivered or
-- dead-lettered, and adds a dead letter in the same step, if the owner
-- holds the lease (which it renews).
-- KEYS: 1 lease, 2 cursor, 3 dead letters, 4 the dead letter's record (the
-- cursor's key again when there is none)
-- ARGV: 1 owner, 2 ttl (ms), 3 cursor, 4 the dead letter's event id (''
-- when none), 5 its record, 6 its score (ms), 7 the most dead letters kept
-- Returns -1 when the owner does not hold the lease (nothing changed),
-- otherwise the number of old dead letters dropped.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
if ARGV[4] == '' then
  return 0
end
return bury(KEYS[3], KEYS[4], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
