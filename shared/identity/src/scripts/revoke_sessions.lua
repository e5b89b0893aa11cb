-- Revokes every session in a subject's index except one.
-- KEYS[1]: the index set. ARGV[1]: session key prefix. ARGV[2]: the id to keep ("" for none).
local revoked = 0
for _, id in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  if id ~= ARGV[2] then
    redis.call("DEL", ARGV[1] .. id)
    redis.call("SREM", KEYS[1], id)
    revoked = revoked + 1
  end
end
return revoked
