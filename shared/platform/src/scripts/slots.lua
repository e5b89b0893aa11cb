-- At most ARGV[1] holders at once, across every process sharing this Redis.
-- KEYS[1]: sorted set of holders scored by when they took their place (ms).
-- ARGV: limit, now (ms), lease (ms), holder id. A holder older than the lease is
-- dropped: its process died (or froze) before giving the place back.
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - lease)
if redis.call("ZCARD", KEYS[1]) >= limit then
  return 0
end
redis.call("ZADD", KEYS[1], now, ARGV[4])
redis.call("PEXPIRE", KEYS[1], lease)
return 1
