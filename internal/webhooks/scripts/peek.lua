#!lua flags=no-writes
-- What the delivery loop checks before each page of events: whether the
-- endpoint is paused, and the first dead letter queued for another try.
-- The queued letter's record is named from the queue's own key (same
-- prefix, same hash tag), as its id is found in the data.
-- KEYS: 1 paused, 2 queue
-- Returns {reason or false, id or false, record or false}.
local paused = redis.call('GET', KEYS[1])
local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if first == nil then
  return {paused, false, false}
end
return {paused, first, redis.call('GET', string.sub(KEYS[2], 1, -2) .. 'e' .. first)}
