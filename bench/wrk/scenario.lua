-- One benchmark scenario's requests, for wrk (bench/driver.ts runs it). The same requests go to the
-- service and to the ceiling. Settings arrive in the environment:
--   BENCH_SCENARIO      trivial | get-one | list-first | list-deep | create | create-conflict | replace
--                       | availability-7d | nearest | events-first | events-deep
--   BENCH_AUTH          the Authorization header (the ceiling ignores it)
--   BENCH_ORDERS        how many base orders the database holds (ids from 1000)
--   BENCH_PATHS_FILE    list-deep, events-deep: one path per line, sent in turn
--   BENCH_CREATE_OFFSET create: where this run's sequence of unique create times starts
--   BENCH_THREADS       wrk's -t, so that threads draw disjoint create times
-- done() prints one line, "wrk-result {json}", that the driver reads.

-- The data's layout: bench/load-data.ts (base order k = id - 1000 sits at BASE_EPOCH + (k + floor(k / 5)) slots).
local FIRST_ID = 1000
local BASE_EPOCH = 946684800000 -- 2000-01-01T00:00:00Z
local SLOT_MS = 4 * 3600000
local ORDERS_PER_DAY = 5 -- five of a day's six slots; the sixth is free
local HOUR = 3600000
local CREATED_FROM = 32503680000000 -- 3000-01-01T00:00:00Z: every created order lies after this
local CREATE_SLOTS = 15000000
local CATALOGUE = { 123, 456, 789, 201, 202, 203, 204, 205, 206, 207 }

local scenario = os.getenv("BENCH_SCENARIO") or "trivial"
local auth = os.getenv("BENCH_AUTH") or ""
local orders = tonumber(os.getenv("BENCH_ORDERS") or "1")
local paths_file = os.getenv("BENCH_PATHS_FILE")
local create_offset = tonumber(os.getenv("BENCH_CREATE_OFFSET") or "0")
local thread_total = tonumber(os.getenv("BENCH_THREADS") or "1")

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local function iso(ms)
  local seconds = math.floor(ms / 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%03dZ", ms - seconds * 1000)
end

local function base_time(id)
  local k = id - FIRST_ID
  return BASE_EPOCH + (k + math.floor(k / ORDERS_PER_DAY)) * SLOT_MS
end

local function random_order_id()
  return FIRST_ID + math.random(0, orders - 1)
end

-- 1 to 3 services, some kept and some changed by a replace.
local function random_services()
  local first = math.random(0, #CATALOGUE - 1)
  local parts = {}
  for k = 0, math.random(0, 2) do
    parts[#parts + 1] = string.format('{"id":%d}', CATALOGUE[(first + 3 * k) % #CATALOGUE + 1])
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

function init(args)
  statuses = {}
  sequence = 0
  math.randomseed(os.time() * 1000 + thread_index * 7919)
  read_headers = { ["Authorization"] = auth }
  write_headers = { ["Authorization"] = auth, ["Content-Type"] = "application/json" }
  paths = {}
  if paths_file then
    for line in io.lines(paths_file) do
      paths[#paths + 1] = line
    end
  end
  fixed = nil
  if scenario == "trivial" then
    fixed = wrk.format("GET", "/healthz", read_headers)
  elseif scenario == "list-first" then
    fixed = wrk.format("GET", "/orders?limit=50", read_headers)
  elseif scenario == "events-first" then
    fixed = wrk.format("GET", "/events?limit=100", read_headers)
  end
end

-- Creates get instants unique for the whole benchmark (the driver moves BENCH_CREATE_OFFSET past
-- every run's) and far apart for requests in flight together: neighbouring slots would make
-- writers queue on the same advisory locks, which traffic at scattered times does not.
local function next_create_time()
  local n = create_offset + sequence * thread_total + thread_index
  sequence = sequence + 1
  return iso(CREATED_FROM + ((n * 7919) % CREATE_SLOTS) * SLOT_MS)
end

function request()
  if fixed then
    return fixed
  elseif scenario == "get-one" then
    return wrk.format("GET", "/orders/" .. random_order_id(), read_headers)
  elseif scenario == "list-deep" or scenario == "events-deep" then
    sequence = sequence + 1
    return wrk.format("GET", paths[(sequence + thread_index) % #paths + 1], read_headers)
  elseif scenario == "create" then
    local body = '{"datetime":"' .. next_create_time() .. '","totalfee":99.5,"services":[{"id":123},{"id":456}]}'
    return wrk.format("POST", "/orders", write_headers, body)
  elseif scenario == "create-conflict" then
    -- 90 minutes into a base order's slot: inside that order's 3 hours.
    local datetime = iso(base_time(random_order_id()) + 1.5 * HOUR)
    return wrk.format("POST", "/orders", write_headers, '{"datetime":"' .. datetime .. '","totalfee":10,"services":[{"id":789}]}')
  elseif scenario == "availability-7d" then
    -- A week from a random base order, minus 90 minutes so the range starts inside a blocked span.
    local from = base_time(random_order_id()) - 1.5 * HOUR
    return wrk.format("GET", "/availability?from=" .. iso(from) .. "&to=" .. iso(from + 168 * HOUR), read_headers)
  elseif scenario == "nearest" then
    return wrk.format("GET", "/availability/nearest?at=" .. iso(base_time(random_order_id()) + 1.5 * HOUR), read_headers)
  elseif scenario == "replace" then
    -- Moves the order within the first hour of its own slot: a real move, checked by the constraint.
    local id = random_order_id()
    local datetime = iso(base_time(id) + math.random(0, 59) * 60000)
    local body = string.format('{"datetime":"%s","totalfee":%d,"services":%s}', datetime, 10 + math.random(0, 999), random_services())
    return wrk.format("PUT", "/orders/" .. id, write_headers, body)
  end
  error("unknown BENCH_SCENARIO " .. scenario)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sums = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      sums[status] = (sums[status] or 0) + n
    end
  end
  local counts = {}
  for status, n in pairs(sums) do
    counts[#counts + 1] = string.format('"%d":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'wrk-result {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"cpuSeconds":%.6f,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, os.clock(),
    e.connect, e.read, e.write, e.timeout, e.status, table.concat(counts, ",")))
end
