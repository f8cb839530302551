-- socket:use (Node's per-packet middleware), the catch-alls (on_any, prepend_any, off_any,
-- listeners_any and their _outgoing twins) and several listeners per event, under siod, driven by
-- socket.io-client 4.8 with the driver test_socket_use.py uses against the same app in Python
-- (tests/python/socket_use_client.mjs); and the lists in process.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local DRIVER = H.root .. "/tests/python/socket_use_client.mjs"
local have_node = os.execute("command -v node >/dev/null 2>&1")
  and H.read_file(H.root .. "/tests/js/node_modules/socket.io-client/package.json") ~= nil

-- The app the driver talks to (socket_use_client.mjs says what it sends).
local APP = [[
local sio = require "sio"
local server = assert(sio.server{ port = 0 })
sio.log.info(("listening at port %d"):format(server.port))
server:on("connection", function(socket)
  local log_any, log_out = {}, {}
  socket:on_any(function(event) log_any[#log_any + 1] = "a:" .. event end)
  socket:prepend_any(function(event) log_any[#log_any + 1] = "p:" .. event end)
  socket:on_any_outgoing(function(event) log_out[#log_out + 1] = event end)
  socket:use(function(packet, next)
    local event = packet[1]
    if event == "deny" then
      next("denied")
    elseif event == "guarded" then
      packet[#packet]({ error = "no" }) -- the ack, last, as in Node
      next("guarded")
    elseif event == "mod" then
      packet[2] = packet[2] * 10
      next()
    elseif event == "slow" then
      sio.sleep(50) -- a middleware may wait in its coroutine
      next()
    else
      next()
    end
  end)
  socket:on("error", function(err) socket:emit("err", tostring(err)) end)
  socket:on("multi", function() end)
  socket:on("multi", function() return "two" end)
  socket:on("multi", function() return "three" end)
  socket:on("none", function() end)
  socket:on("none", function() end)
  socket:on("mod", function(n) return n end)
  socket:on("slow", function(n) return n + 1 end)
  socket:once("one", function() return "first" end)
  socket:on("one", function() return "later" end)
  socket:on("bcast", function()
    server:emit("news", 1)
    socket:emit("direct", 2)
    return sio.null
  end)
  socket:on("logs", function() return { any = log_any, out = log_out } end)
  socket:on("off", function()
    socket:off_any()
    socket:off_any_outgoing()
    socket:remove_all_listeners("multi")
    return { #socket:listeners_any(), #socket:listeners_any_outgoing(), #socket:listeners("multi"),
      #socket:listeners("one") }
  end)
end)
]]

describe("socket:use, the catch-alls and several listeners", function()
  local procs = {}
  after_each(function()
    for i = #procs, 1, -1 do procs[i].stop() end
    procs = {}
    H.cleanup_temps()
  end)

  it("against socket.io-client 4.8 (the app of test_socket_use.py, in Lua)", function()
    if not have_node then
      pending("node and tests/js/node_modules (socket.io-client) are needed")
      return
    end
    local script = H.tmpname(".lua")
    H.write_file(script, APP)
    local log = H.tmpname()
    local p = H.spawn(("exec timeout --foreground 60 %s --host 127.0.0.1 --port 0 %s"):format(H.q(H.siod), H.q(script)), log)
    procs[#procs + 1] = p
    assert(H.wait_for(function() return p.output():match("port (%d+)") or not p.running() end, 10000))
    local port = tonumber(p.output():match("port (%d+)"))
    assert(port and port > 0, "siod did not start:\n" .. p.output())
    local out, err = H.tmpname(), H.tmpname()
    local d = H.spawn(("exec timeout --foreground 30 node %s http://127.0.0.1:%d"):format(H.q(DRIVER), port), out, err)
    procs[#procs + 1] = d
    assert.are.equal(0, H.wait_exit(d, 30000), d.errors() .. "\n" .. p.output())
    local line
    for l in d.output():gmatch("[^\n]+") do line = l end
    local r = assert(sio.json.decode(line), d.output())
    assert.are.same({ "two" }, r.multi)     -- the first listener that returns values
    assert.are.equal("timeout", r.none)     -- none returned any: no ack (Lua's rule)
    assert.are.equal("timeout", r.deny)     -- refused: never answered, as Node's
    assert.are.same({ { error = "no" } }, r.guarded)
    assert.are.same({ 40 }, r.mod)
    assert.are.same({ 6 }, r.slow)
    assert.are.same({ { "first" }, { "later" } }, r.one)
    assert.are.same({ 1 }, r.news)
    assert.are.same({ 2 }, r.direct)
    assert.are.same({ "denied", "guarded" }, r.errs)
    local any = {}
    for _, e in ipairs({ "multi", "none", "deny", "guarded", "mod", "slow", "one", "one", "bcast", "logs" }) do
      any[#any + 1] = "p:" .. e
      any[#any + 1] = "a:" .. e
    end
    assert.are.same({ { any = any, out = { "err", "err", "news", "direct" } } }, r.logs)
    assert.are.same({ { 0, 0, 0, 1 } }, r.off)
    assert.is_nil(p.output():match("ERROR"), p.output())
  end)

  it("in process: a middleware that raises, next() twice, next() after the client left, the lists", function()
    local s = assert(sio.server{ host = "127.0.0.1", port = 0 })
    local r = { errs = {}, seen = {}, out = {} }
    local held
    s:on("connection", function(socket)
      r.socket = socket
      local function o1(event) r.out[#r.out + 1] = "o1:" .. event end
      local function o0(event) r.out[#r.out + 1] = "o0:" .. event end
      socket:on_any_outgoing(o1)
      socket:prepend_any_outgoing(o0)
      r.n_out = #socket:listeners_any_outgoing()
      socket:use(function(packet, next)
        if packet[1] == "boom" then error("boom") end
        if packet[1] == "hold" then held = next return end
        if packet[1] == "twice" then
          next()
          r.twice = select(2, pcall(next))
          return
        end
        next()
      end)
      socket:on("error", function(err) r.errs[#r.errs + 1] = tostring(err) end)
      for _, ev in ipairs({ "boom", "hold", "twice" }) do
        socket:on(ev, function() r.seen[#r.seen + 1] = ev end)
      end
      socket:on("ok", function()
        socket:emit("x")
        socket:off_any_outgoing(o0)
        socket:emit("y")
        socket:off_any_outgoing()
        socket:emit("finish")
        return 1
      end)
    end)
    local c = H.client("listen", s.port, { steps = { { "emit", "boom" }, { "emit", "hold" }, { "emit", "twice" },
      { "call", "ok" } } })
    procs[#procs + 1] = c
    assert(H.run_clients({ c }, 15000), c.output())
    H.run_until(function() return r.socket and not r.socket.connected end, 5000)
    assert.is_function(held)
    held() -- after the client left: nothing is dispatched
    H.pump(30)
    assert.are.equal(2, r.n_out)
    assert.are.same({ "twice" }, r.seen)
    assert.are.equal(1, #r.errs)
    assert.matches("boom", r.errs[1])
    assert.matches("next%(%) called twice", r.twice)
    assert.are.same({ "o0:x", "o1:x", "o1:y" }, r.out)
    s:close()
    H.pump(30)
  end)
end)
