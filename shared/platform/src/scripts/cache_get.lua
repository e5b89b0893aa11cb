-- Versioned cache read in one round trip.
-- KEYS[1]: the namespace's version counter. ARGV[1], ARGV[2]: the entry key around the
-- version. ARGV[3]: the version of the caller's in-memory copy, or "" when it has none.
-- Returns {version} when the caller's copy is current (nothing else to send), else
-- {version, entry-or-false, milliseconds-to-live}. The entry key depends on the version,
-- so it cannot be passed in KEYS; Upstash runs a database on one shard, where this is safe.
local version = redis.call("GET", KEYS[1]) or "0"
if version == ARGV[3] then
  return {version}
end
local key = ARGV[1] .. version .. ARGV[2]
return {version, redis.call("GET", key), redis.call("PTTL", key)}
