-- Shared by the wrk scripts: the request comes from the environment and
-- done() prints one JSON line that bench/compare reads.
--   WRK_AUTH  Authorization header value (Basic ... or Bearer ...)
--   WRK_BODY  form body to POST; a GET when unset
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
local body = os.getenv("WRK_BODY")
if body then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"non2xx":%d,"socket_errors":%d,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
