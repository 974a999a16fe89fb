-- The DSB mix for wrk (benchmarks/workload.py writes its inputs and reads its output).
--
-- wrk --threads T -s mix.lua URL -- REQUESTS RATE T
--   REQUESTS: one request per line, "METHOD<TAB>PATH<TAB>TOKEN<TAB>BODY" (BODY may be empty),
--             in the order they are sent; each thread starts at its own offset and cycles.
--   RATE:     the offered rate of the whole run, requests per second.
--   T:        wrk's thread count (init() runs before the later threads exist).
-- done() prints one line, "chirp-mix " and the result as JSON.
--
-- Pacing: each thread hands out send times one after another at RATE / threads per second;
-- a connection that becomes free waits for the next free slot (delay()). A slow answer does not
-- delay the requests of the other connections, so the run is open-loop up to as many
-- outstanding requests as there are connections; past that, the achieved rate falls below the
-- offered one. wrk's Lua has no clock finer than a second, hence gettimeofday through LuaJIT.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_usec; } chirp_timeval;
int gettimeofday(chirp_timeval *tv, void *tz);
]])
local clock = ffi.new("chirp_timeval")

local function now_ms()
  ffi.C.gettimeofday(clock, nil)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_usec) / 1000
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("index", thread_count)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 1
local interval_ms = 0
local next_slot = nil
statuses = {}

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    table.insert(fields, field)
  end
  return fields
end

function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, body = unpack(split(line))
    local headers = { ["Authorization"] = "Bearer " .. token }
    if body ~= nil and body ~= "" then
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    table.insert(requests, wrk.format(method, path, headers, body))
  end
  local count = tonumber(args[3])
  next_request = math.floor(#requests * (index - 1) / count) + 1
  interval_ms = 1000 * count / tonumber(args[2])
end

function delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return wait
end

function request()
  local chosen = requests[next_request]
  next_request = next_request % #requests + 1
  return chosen
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'chirp-mix {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), errors.connect + errors.read + errors.write + errors.timeout,
    table.concat(parts, ", ")
  ))
end
