-- wrk script: POST the benchmark's Echo event mix to /echo/events, each body with a fresh eventId and each
-- pass over the mix a run (execution id) of its own.
-- Settings come from the environment: BENCH_EVENTS_DIR (0001.json… holding @EVENT_ID@ and @RUN_ID@), BENCH_RUN_ID
-- and BENCH_ECHO_TOKEN.

local dir = os.getenv("BENCH_EVENTS_DIR")
local run_id = os.getenv("BENCH_RUN_ID") or "run"
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_ECHO_TOKEN")}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

-- A template as a list of literal pieces and the markers "@EVENT_ID@" and "@RUN_ID@" between them.
local function pieces(text)
  local list, at = {}, 1
  while true do
    local first, last = string.find(text, "@[A-Z_]+_ID@", at)
    if not first then break end
    table.insert(list, text:sub(at, first - 1))
    table.insert(list, text:sub(first, last))
    at = last + 1
  end
  table.insert(list, text:sub(at))
  return list
end

function init(args)
  templates = {}
  sent, queued, ignored, other = 0, 0, 0, 0
  while true do
    local file = io.open(string.format("%s/%04d.json", dir, #templates + 1), "rb")
    if not file then break end
    table.insert(templates, pieces(file:read("*a")))
    file:close()
  end
  prefix = run_id .. "-" .. thread_number .. "-"
end

function request()
  sent = sent + 1
  local template = templates[(sent - 1) % #templates + 1]
  local ids = {["@EVENT_ID@"] = prefix .. sent, ["@RUN_ID@"] = prefix .. "run-" .. math.floor((sent - 1) / #templates)}
  local parts = {}
  for i, piece in ipairs(template) do parts[i] = ids[piece] or piece end
  return wrk.format("POST", "/echo/events", headers, table.concat(parts))
end

function response(status, headers, body)
  if status == 202 then queued = queued + 1 elseif status == 200 then ignored = ignored + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local totals = {queued = 0, ignored = 0, other = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  io.write(string.format("answers: 202=%d 200=%d other=%d\n", totals.queued, totals.ignored, totals.other))
end
