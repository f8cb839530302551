-- Memory stays flat over hundreds of thousands of handler calls: an in-process server whose "echo"
-- handler returns its argument (the ack), driven by build/sio-loadgen (--scenario echo: ten
-- WebSocket connections, each sending `42<id>["echo","<payload>"]` and waiting for its ack).
-- The Lua heap (after a full collection) and the process's VmRSS are taken after a warm-up and
-- again after the measured calls; a leak of 100 bytes a call would add 25 MB over 250k calls.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local WARMUP = 10000
local MEASURED = 250000
local MAX_HEAP_KIB = 1024      -- 250k calls: 4 bytes a call
local MAX_RSS_KIB = 8 * 1024   -- 250k calls: 33 bytes a call

local function rss_kib()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local function settle()
  collectgarbage()
  collectgarbage()
  return collectgarbage("count"), rss_kib()
end

describe("memory", function()
  local server, loadgen

  after_each(function()
    if loadgen then loadgen.stop() end
    if server then server:close() end
    H.pump(50)
    H.cleanup_temps()
  end)

  it("stays flat over 250k echo handler calls (Lua heap and RSS)", function()
    server = assert(sio.server { host = "127.0.0.1", port = 0 })
    local calls, bad = 0, 0
    local connections = 0
    server:on("connection", function(socket)
      connections = connections + 1
      socket:on("echo", function(payload, ack)
        calls = calls + 1
        if type(payload) ~= "string" or not sio.is_ack(ack) then bad = bad + 1 end
        return payload
      end)
    end)
    local out = H.tmpname()
    loadgen = H.spawn(("exec %s --scenario echo --port %d --connections 10 --duration 60 --warmup 0")
      :format(H.q(H.loadgen), server.port), out)

    assert.is_true(H.run_until(function() return calls >= WARMUP end, 20000),
      "warm-up not reached: " .. calls .. " calls\n" .. loadgen.output())
    local heap0, rss0 = settle()
    local from = calls
    local t0 = sio.now()
    assert.is_true(H.run_until(function() return calls >= from + MEASURED end, 45000),
      "only " .. (calls - from) .. " calls in 45 s\n" .. loadgen.output())
    local ms = sio.now() - t0
    local heap1, rss1 = settle()
    local n = calls - from

    -- Nothing went wrong on either side. Each connection of the load generator sends its next
    -- echo only once the ack of the one before has come back: the count of calls shows the acks
    -- arrived. (It reports only at the end of its --duration: it is stopped before that.)
    local report = loadgen.output()
    assert.is_true(loadgen.running(), report)
    loadgen.stop()
    print(("\nmemory: %d calls in %d ms (%d connections); Lua heap %.1f -> %.1f KiB (%+.1f KiB, %.2f B/call);"
      .. " VmRSS %d -> %d KiB (%+d KiB, %.2f B/call)"):format(n, ms, connections, heap0, heap1, heap1 - heap0,
      (heap1 - heap0) * 1024 / n, rss0, rss1, rss1 - rss0, (rss1 - rss0) * 1024 / n))
    assert.are.equal(10, connections)
    assert.are.equal(0, bad)
    assert.matches("10 connections ready", report)
    assert.is_nil(report:find("error", 1, true), report)

    assert.is_true(heap1 - heap0 < MAX_HEAP_KIB,
      ("the Lua heap grew by %.1f KiB over %d calls"):format(heap1 - heap0, n))
    assert.is_true(rss1 - rss0 < MAX_RSS_KIB, ("VmRSS grew by %d KiB over %d calls"):format(rss1 - rss0, n))
  end)
end)
