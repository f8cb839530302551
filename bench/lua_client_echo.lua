-- The Lua client's echo rate: CONNS sockets (each its own manager, WebSocket) against a contract
-- server, each keeping WINDOW `echo` emits with an ack in flight for SECONDS; prints acks/s. Run on
-- demand, never in CI (the numbers go to bench/RESULTS.md):
--   examples/contract/run c --port 3000 &
--   LUA_CPATH='build/lua/?.so;;' lua5.4 bench/lua_client_echo.lua [URL] [CONNS] [WINDOW] [SECONDS] [polling]
local sio = require "sio"
local url = arg[1] or "http://127.0.0.1:3000"
local conns, window, seconds = tonumber(arg[2]) or 10, tonumber(arg[3]) or 4, tonumber(arg[4]) or 3
local transports = arg[5] == "polling" and { "polling" } or { "websocket" }

local acks, ready, started, stop_at = 0, 0, nil, nil
local sockets = {}
local payload = { text = "hello", n = 42 }

local function pump(s)
  s:emit("echo", payload, function()
    if stop_at and sio.monotonic() >= stop_at then return end
    if started then acks = acks + 1 end
    pump(s)
  end)
end

for i = 1, conns do
  local s = sio.client(url, { forceNew = true, transports = transports, reconnection = false })
  sockets[i] = s
  s:once("connect", function()
    ready = ready + 1
    if ready == conns then
      started = sio.monotonic()
      stop_at = started + seconds * 1000
      sio.set_timeout(function()
        for _, c in ipairs(sockets) do c:disconnect() end
      end, seconds * 1000 + 200)
    end
    for _ = 1, window do pump(s) end
  end)
  s:on("connect_error", function(e) io.stderr:write("connect_error: ", tostring(e), "\n") end)
end
sio.run()
local elapsed = (stop_at and stop_at - started or 1) / 1000
print(("lua client echo: %d connections (%s), window %d, %d s: %d acks, %.0f acks/s"):format(conns,
  transports[1], window, seconds, acks, acks / elapsed))
