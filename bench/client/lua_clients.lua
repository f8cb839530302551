-- N sio Lua clients (sio.client) in one Lua process against one server (bench/clients):
--   lua5.4 bench/client/lua_clients.lua URL --clients N --duration S   (LUA_CPATH: build/lua/?.so)
-- The same steps as node_clients.mjs: one warm-up client connected over WebSocket with one `echo`
-- acked, then the baseline RSS (after a full collection), so that one-time costs are not counted per
-- client; then N clients connected over WebSocket, 1 s idle, RSS again (after a full collection):
-- (RSS - baseline) / N per idle client. Then one `echo` ack in flight per measured client (the
-- warm-up one stays idle) for S seconds after 0.5 s of warm-up. One JSON line.
local sio = require "sio"

local url = arg[1]
local function opt(name, default)
  for i = 2, #arg - 1 do
    if arg[i] == name then return tonumber(arg[i + 1]) end
  end
  return default
end
local n = opt("--clients", 100)
local duration = opt("--duration", 3)

local function rss_kb()
  collectgarbage("collect")
  collectgarbage("collect")
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
  return 0
end

local rss0, rss1
local clients, connected, acks, running = {}, 0, 0, false
local payload = "0123456789abcdef"

local function loop(s)
  s:emit("echo", payload, function()
    acks = acks + 1
    if running then loop(s) end
  end)
end

local function finish(acks0, cpu0, t0)
  local got, cpu, secs = acks - acks0, os.clock() - cpu0, (sio.now() - t0) / 1000
  running = false
  print(string.format('{"client":"sio-lua","clients":%d,"acks":%d,"seconds":%.3f,"cpu":%.3f,' ..
    '"acks_per_s":%.0f,"acks_per_cpu_s":%.0f,"rss0_kb":%d,"rss1_kb":%d,"idle_bytes_per_client":%.0f}',
    n, got, secs, cpu, got / secs, cpu > 0 and got / cpu or 0, rss0, rss1, (rss1 - rss0) * 1024 / n))
  io.stdout:flush()
  os.exit(0)
end

local function start()
  sio.set_timeout(function()
    rss1 = rss_kb()
    running = true
    for _, s in ipairs(clients) do loop(s) end
    sio.set_timeout(function()
      local acks0, cpu0, t0 = acks, os.clock(), sio.now()
      sio.set_timeout(function() finish(acks0, cpu0, t0) end, duration * 1000)
    end, 500)
  end, 1000)
end

local function connect_all()
  rss0 = rss_kb()
  for i = 1, n do
    local s = sio.client(url, { transports = { "websocket" }, forceNew = true, reconnection = false })
    s:once("connect", function()
      connected = connected + 1
      if connected == n then start() end
    end)
    clients[i] = s
  end
  sio.set_timeout(function()
    io.stderr:write(string.format("%d of %d connected\n", connected, n))
    os.exit(1)
  end, 60000)
end

local warm = sio.client(url, { transports = { "websocket" }, forceNew = true, reconnection = false })
warm:once("connect", function()
  warm:emit("echo", payload, function() connect_all() end)
end)
sio.set_timeout(function()
  if rss0 then return end
  io.stderr:write("the warm-up client did not connect and get its ack\n")
  os.exit(1)
end, 60000)
sio.run()
