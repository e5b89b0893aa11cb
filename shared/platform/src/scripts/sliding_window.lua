-- Sliding-window rate limit, one round trip per check.
-- KEYS[1]: counter of the current fixed window, KEYS[2]: counter of the previous one.
-- ARGV: limit, window length (ms), position inside the current window (ms), mode:
-- `hit` checks and counts an allowed request, `peek` only checks, `count` only counts
-- (limits on failures peek before the attempt and count only the failed ones).
-- The previous window's count is weighted by how much of it still overlaps the
-- sliding window, which approximates a true sliding log with two integers.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local mode = ARGV[4] or "hit"

local current = tonumber(redis.call("GET", KEYS[1]) or "0")
local previous = tonumber(redis.call("GET", KEYS[2]) or "0")
local weighted = math.floor(previous * (window - elapsed) / window)

if mode ~= "count" and current + weighted >= limit then
  return {0, 0}
end
if mode == "peek" then
  return {1, limit - current - weighted}
end

current = redis.call("INCR", KEYS[1])
if current == 1 then
  -- Kept for two windows: it is the "previous" counter during the next one.
  redis.call("PEXPIRE", KEYS[1], window * 2)
end
return {1, limit - current - weighted}
