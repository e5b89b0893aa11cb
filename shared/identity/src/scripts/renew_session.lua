-- Looks a session up and renews it, only if it belongs to the expected kind of subject.
-- KEYS[1]: the session key. ARGV[1]: lifetime in seconds. ARGV[2]: the prefix of the
-- per-subject index keys. ARGV[3]: the subject kind, e.g. "member:".
-- The subject's index is renewed with the session, so "revoke all" finds every
-- session that is still alive, however long ago the last one was created.
local json = redis.call("GET", KEYS[1])
if not json then
  return false
end
local subject = cjson.decode(json)["subject"]
if type(subject) ~= "string" or string.sub(subject, 1, #ARGV[3]) ~= ARGV[3] then
  return false
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
redis.call("EXPIRE", ARGV[2] .. subject, ARGV[1])
return json
