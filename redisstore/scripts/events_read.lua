#!lua flags=no-writes
-- Reads a bucket's event log (see e in lib.lua) from a position, with the
-- server's clock at the moment of the read: every entry written later by
-- this server has a later id, so the entries read are all those with an id
-- before that time. Sent to the primary (EVALSHA, not EVALSHA_RO), whose
-- clock writes the ids.
-- KEYS: 1 e
-- ARGV: 1 the first id ('(' before it: after it), 2 the most entries
-- Returns { seconds, microseconds, entries }.
local t = redis.call('TIME')
return { t[1], t[2], redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2]) }
