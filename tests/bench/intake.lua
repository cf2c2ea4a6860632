-- wrk script: POST a valid projectApplication (about 8 KB) over keep-alive.
-- Environment: BENCH_BODY (file), BENCH_TOKEN, BENCH_CALL.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/api/v1/calls/" .. os.getenv("BENCH_CALL") .. "/applications"
wrk.body = body
wrk.headers["Content-Type"] = "application/xml"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
