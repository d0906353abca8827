-- wrk script: POST /heartbeat with the bodies in $BODIES (one JSON per line), round robin.
local bodies = {}
local counter = 0

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
  counter = math.random(#bodies)
end

function request()
  counter = counter % #bodies + 1
  return wrk.format("POST", "/heartbeat", {["Content-Type"] = "application/json"}, bodies[counter])
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
