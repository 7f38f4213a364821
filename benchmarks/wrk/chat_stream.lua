-- Copied from the Seawall team's shared gateway harness (shared/bench/wrk/chat_stream.lua, 2026-11-26).
-- wrk script: streaming OpenAI chat completion (SSE, "stream": true, usage included).
-- Environment (all optional):
--   BENCH_MODEL    model name in the body            (default gpt-4o-mini)
--   BENCH_HEADERS  extra request headers, one "Name: value" per line
--   BENCH_BODY_FILE  send this file's bytes as the body instead
-- A response counts as "bad" unless it is HTTP 200 and contains "data: [DONE]".
-- wrk times the whole response (last byte), not time-to-first-token: see loadgen.py.
-- done() prints one line "BENCH_JSON {...}" that overhead.py parses.

local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},' ..
  '{"role":"user","content":"Write one short sentence about foxes."}],"max_tokens":16,"stream":true,"stream_options":{"include_usage":true}}'
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb")); body = f:read("*a"); f:close()
end
local expect = "[DONE]"

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, resp_body)
  if status ~= 200 or not resp_body or not resp_body:find(expect, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local nbad = 0
  for _, t in ipairs(threads) do nbad = nbad + t:get("bad") end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"bad":%d,' ..
    '"status_errors":%d,"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n', summary.requests, summary.duration, summary.bytes, nbad,
    e.status, e.connect + e.read + e.write, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
