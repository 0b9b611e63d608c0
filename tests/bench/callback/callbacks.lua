-- wrk script for the callback benchmark: posts pre-encrypted, distinct WeCom callbacks.
--   wrk -t T -s callbacks.lua URL -- FILE
-- FILE.k (k = 0 .. T-1) holds wrk thread k's requests, each a complete HTTP request (request
-- line, Host, Content-Type, Content-Length, body) behind an 8-digit decimal length; run.sh
-- builds these files from gen_callbacks output.
--
-- Why read them one at a time in request() rather than pre-build them all in init():
-- wrk runs the threads' setup() and init() one after the other in its main thread and starts
-- each thread right after its own init(), then starts the clock; with 100,000+ requests to
-- build, thread 0 would already be sending (and those requests would be counted) while the
-- next thread builds its own. Reading a record costs two buffered reads and no string building.
-- The requests come from a file rather than from constants in this script, which also avoids
-- LuaJIT's 65,536 constants per function and a `[[...]]` string ended by a body's own "]]>";
-- and since they are pre-formatted, wrk.format (which adds the Host header only once init() is
-- running) is not needed.
-- A thread that reaches the end of its file starts over (duplicate events) and counts it in
-- `wrapped`: run.sh reports it, and the rows then fall short of the answered requests.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   f = assert(io.open(args[1] .. "." .. id, "rb"))
   sent = 0
   wrapped = 0
end

function request()
   local len = f:read(8)
   if not len then
      f:seek("set", 0)
      wrapped = wrapped + 1
      len = f:read(8)
   end
   sent = sent + 1
   return f:read(tonumber(len))
end

function done(summary, latency, requests)
   local wrapped, sent = 0, 0
   for _, t in ipairs(threads) do
      wrapped = wrapped + t:get("wrapped")
      sent = sent + t:get("sent")
   end
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d sent=%d wrapped=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, sent, wrapped))
end
