-- wrk script: POST NDJSON bodies, over and over, to a partition's ingest route.
--
-- Environment (read when wrk loads the script):
--   BODY_FILE   NDJSON lines to send (write them with tuning/make_body.py); required
--   BATCH       lines per request (default: the whole file is one body). The file
--               is cut into bodies of BATCH lines, sent round-robin, so a file of
--               many batches gives the server distinct data to compress instead of
--               the same bytes again and again (LZ4 and Zstd would find the repeats).
--   PARTITION   partition id or name (default "bench")
--
-- done() prints how many responses were not 200 (by status), how many
-- entries the 200 answers said they accepted, and one machine-readable line
-- that tuning/wrk-ingest.sh parses:
--   wrk-ingest requests=N ok=N non200=N errors=N accepted=N duration_us=N p50_us=N p90_us=N p99_us=N p999_us=N max_us=N
-- (errors = connect/read/write/timeout errors as wrk counts them; latencies
-- are wrk's, measured from send to response, so they are NOT corrected for
-- coordinated omission.)

local body_file = os.getenv("BODY_FILE")
if body_file == nil or body_file == "" then
  error("set BODY_FILE to an NDJSON file (tuning/make_body.py LINES FILE)")
end
local file = assert(io.open(body_file, "rb"))
local content = file:read("*a")
file:close()

local partition = os.getenv("PARTITION")
if partition == nil or partition == "" then
  partition = "bench"
end

local batch = tonumber(os.getenv("BATCH") or "")
local bodies = {}
if batch == nil or batch < 1 then
  bodies[1] = content
else
  local chunk = {}
  for line in content:gmatch("[^\n]+") do
    chunk[#chunk + 1] = line
    if #chunk == batch then
      bodies[#bodies + 1] = table.concat(chunk, "\n") .. "\n"
      chunk = {}
    end
  end
  if #bodies == 0 then
    error(string.format("BODY_FILE %s holds fewer than BATCH=%d lines", body_file, batch))
  end
  -- A partial last chunk is dropped so every request carries exactly BATCH lines.
end

wrk.method = "POST"
wrk.path = "/api/v1/partitions/" .. partition .. "/logs"
wrk.headers["Content-Type"] = "application/x-ndjson"

-- The next body this thread sends; each wrk thread runs its own copy of the script.
local next_body = 1

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  accepted = 0
  non200 = 0
  by_status = {}
  status_summary = ""
  first_error = nil
end

function response(status, headers, response_body)
  if status == 200 then
    ok = ok + 1
    local count = response_body:match('"accepted":(%d+)')
    if count then
      accepted = accepted + tonumber(count)
    end
  else
    non200 = non200 + 1
    by_status[status] = (by_status[status] or 0) + 1
    if first_error == nil then
      first_error = status .. " " .. response_body:sub(1, 300)
    end
    status_summary = flatten(by_status)
  end
end

-- Only numbers and strings cross from a thread to done() (thread:get), so the
-- counts by status are kept flattened into one string as well. This runs on
-- non-200 responses only.
function flatten(counts)
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, status .. "x" .. count)
  end
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  local total_ok, total_accepted, total_non200 = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_accepted = total_accepted + thread:get("accepted")
    local thread_non200 = thread:get("non200")
    total_non200 = total_non200 + thread_non200
    if thread_non200 > 0 then
      io.write(string.format("non-200 responses by status: %s\n", thread:get("status_summary")))
      io.write(string.format("first non-200 response: %s\n", tostring(thread:get("first_error"))))
    end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("non-200 responses: %d\n", total_non200))
  io.write(string.format(
    "wrk-ingest requests=%d ok=%d non200=%d errors=%d accepted=%d duration_us=%d"
      .. " p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, total_ok, total_non200, errors, total_accepted, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
