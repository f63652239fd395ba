-- One request shape for wrk, the same for both servers (bench/peers/run).
--
--   wrk -s request.lua URL -- METHOD PATH CLIENTS FIRST [BODY [HEADER...]]
--
-- Every request comes through the trusted proxy (loopback) on behalf of a
-- client named in X-Forwarded-For. CLIENTS > 0: the client rotates over
-- that many IPv4 addresses, starting FIRST addresses above 11.0.0.0, so that
-- no address reaches its rate limit and every run has fresh ones. CLIENTS = 0:
-- FIRST is the one address every request comes from (the 429 scenario).
-- A BODY is sent as application/json; an empty one ("") is left out. Each
-- HEADER is "Name: value" (Authorization, Origin, Access-Control-Request-*).
--
-- When the run ends the script prints one JSON line that bench/peers/run
-- reads: requests, seconds, req/s, p50/p99 latency in microseconds, and how
-- many answers were not 2xx/3xx and how many sockets failed.

local clients, first
local fixed            -- the whole request, when every request is the same
local before, after    -- the request around its X-Forwarded-For value
local sent = 0

local function address(n)
  local a = 11 * 16777216 + n
  return string.format("%d.%d.%d.%d", math.floor(a / 16777216) % 256,
                       math.floor(a / 65536) % 256, math.floor(a / 256) % 256, a % 256)
end

function init(args)
  local method, path, body = args[1], args[2], nil
  local headers = {}
  clients = tonumber(args[3])
  first = args[4]
  if args[5] and args[5] ~= "" then
    body = args[5]
    headers["Content-Type"] = "application/json"
  end
  for i = 6, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  -- The request is formatted once, here: wrk's core is the client's, and
  -- formatting every request in Lua would spend it on the harness (the
  -- same for both servers, but the client core limits the fastest runs).
  if clients == 0 then
    headers["X-Forwarded-For"] = first
    fixed = wrk.format(method, path, headers, body)
  else
    first = tonumber(first)
    headers["X-Forwarded-For"] = "\0client\0"
    local text = wrk.format(method, path, headers, body)
    local at = string.find(text, "\0client\0", 1, true)
    before, after = string.sub(text, 1, at - 1), string.sub(text, at + 8)
  end
end

function request()
  if fixed then return fixed end
  local n = first + sent % clients
  sent = sent + 1
  return before .. address(n) .. after
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p99_us":%d,' ..
    '"not_2xx":%d,"socket_errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50),
    latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
