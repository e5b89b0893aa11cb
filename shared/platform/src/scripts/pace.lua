-- A pace (GCRA, the generic cell rate algorithm), one round trip per take.
-- KEYS[1]: the theoretical arrival time (ms) of the next unit after those granted.
-- ARGV: the interval between units (ms, fractional), the tolerance (ms: how far
-- ahead of the pace grants may run, i.e. the largest burst), now (ms), units wanted.
-- Answers {units granted (0..wanted), ms until the next unit fits}.
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
-- Less than one interval of tolerance would never grant anything.
if tolerance < interval then
  tolerance = interval
end

-- Times relative to now: near 1.7e12 ms a double has too few digits left for a
-- fractional interval (now + 71.43 - now is not 71.43), and a grant of one unit
-- would round down to none, for ever.
local ahead = tonumber(redis.call("GET", KEYS[1]) or "0") - now
if ahead < 0 then
  ahead = 0
end
local granted = math.floor((tolerance - ahead) / interval + 1e-9)
if granted > wanted then
  granted = wanted
end
if granted < 0 then
  granted = 0
end
if granted > 0 then
  ahead = ahead + granted * interval
  redis.call("SET", KEYS[1], string.format("%.3f", now + ahead), "PX", math.ceil(ahead + tolerance))
end
local wait = math.ceil(ahead + interval - tolerance)
if wait < 0 then
  wait = 0
end
return {granted, wait}
