-- wrk: sends the requests of a file written by `bianxian-local bench-payments`, one
-- per line (tab-separated `Name: value` headers, an empty field, the body), each
-- thread its own share of the lines in turn, so no two requests repeat an event
-- until the file runs out.
--   wrk -s scripts/bench-requests.lua URL -- FILE THREADS
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  requests = {}
  local i = 0
  for line in io.lines(path) do
    if i % count == id then
      local head, body = line:match("^(.-)\t\t(.*)$")
      local headers = {}
      for header in head:gmatch("[^\t]+") do
        local name, value = header:match("^(.-): (.*)$")
        headers[name] = value
      end
      requests[#requests + 1] = wrk.format("POST", wrk.path, headers, body)
    end
    i = i + 1
  end
  sent = 0
end

function request()
  sent = sent + 1
  return requests[((sent - 1) % #requests) + 1]
end
