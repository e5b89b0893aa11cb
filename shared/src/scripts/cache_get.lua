-- Versioned cache read in one round trip.
-- KEYS[1]: the namespace's version counter. ARGV[1], ARGV[2]: the entry key around the version.
-- Returns {version, entry-or-false}. The entry key depends on the version, so it cannot
-- be passed in KEYS; Upstash runs a database on one shard, where this is safe.
local version = redis.call("GET", KEYS[1]) or "0"
return {version, redis.call("GET", ARGV[1] .. version .. ARGV[2])}
