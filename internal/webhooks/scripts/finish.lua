#!lua flags=allow-oom
-- Takes a retried dead letter off the queue: delivered (its record goes),
-- or dead again (back among the dead letters with its new record), if the
-- owner holds the lease (which it renews).
-- KEYS: 1 lease, 2 queue, 3 dead letters, 4 the record
-- ARGV: 1 owner, 2 ttl (ms), 3 event id, 4 the new record ('' when
-- delivered), 5 its score (ms), 6 the most dead letters kept
-- Returns -1 when the owner does not hold the lease (nothing changed),
-- otherwise the number of old dead letters dropped.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
if ARGV[4] == '' then
  redis.call('DEL', KEYS[4])
  return 0
end
return bury(KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
