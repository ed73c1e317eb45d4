-- wrk script for bench/webhook_ack.py: replays pre-signed Twilio webhooks from a file
-- (one "signature<TAB>urlencoded body" per line), each once; counts wrap-arounds (reused MessageSids).
local reqs = {}
local idx = 0
local wrapped = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local sig, body = line:match("^([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/whatsapp/inbound",
      {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = sig}, body)
  end
  f:close()
end

function request()
  idx = idx + 1
  if idx > #reqs then
    idx = 1
    wrapped = wrapped + 1
  end
  return reqs[idx]
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean, w))
end
