-- The live sessions in a subject's index, each followed by the seconds it has left;
-- entries of sessions that expired are skipped.
-- KEYS[1]: the index set. ARGV[1]: session key prefix.
local found = {}
for _, id in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  local key = ARGV[1] .. id
  local session = redis.call("GET", key)
  if session then
    table.insert(found, session)
    table.insert(found, redis.call("TTL", key))
  end
end
return found
