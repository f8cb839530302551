-- Metrics from Lua: server:stats() and server:metrics_text() in-process after a known scenario
-- (a python-socketio client over WebSocket: CONNECT, a call answered, an event), and
-- sio.server{ metrics_path = ... } serving the Prometheus text (scraped with curl).
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers, procs = {}, {}

local function server(opts)
  opts = opts or {}
  opts.host, opts.port = "127.0.0.1", 0
  local s = assert(sio.server(opts))
  servers[#servers + 1] = s
  return s
end

-- curl against the server while the loop is pumped: status, headers (lower-case names), body.
local function curl(s, args, path)
  local out, hdr = H.tmpname(), H.tmpname()
  local cmd = ("exec curl -s -m 10 -D %s -o %s %s %s"):format(H.q(hdr), H.q(out), args or "",
    H.q(("http://127.0.0.1:%d%s"):format(s.port, path)))
  local p = H.spawn(cmd, H.tmpname())
  procs[#procs + 1] = p
  assert(H.run_until(function() return not p.running() end, 12000), "curl did not finish")
  local head = H.read_file(hdr) or ""
  local headers = {}
  for name, value in head:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  return tonumber(head:match("^HTTP/1%.1 (%d+)")), headers, H.read_file(out) or ""
end

after_each(function()
  for _, p in ipairs(procs) do p.stop() end
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers, procs = {}, {}
  H.cleanup_temps()
end)

describe("metrics", function()
  it("server:stats() counts a known scenario; metrics_path serves the same as Prometheus text", function()
    local s = server { metrics_path = "/metrics" }
    s:of("/chat")
    local stats, text
    s:on("connection", function(socket)
      socket:on("echo", function(n, ack) ack(n) end)
      socket:on("done", function()
        stats, text = s:stats(), s:metrics_text()
        socket:emit("finish")
      end)
    end)
    local c = H.client("listen", s.port, { transports = { "websocket" },
                                           steps = { { "call", "echo", 7 }, { "emit", "done", 1 } } })
    procs[#procs + 1] = c
    assert(H.run_clients({ c }, 15000), "client not done: " .. c.output())
    assert.is_table(stats, c.output())
    assert.are.same({ polling = { [3] = 0, [4] = 0 }, websocket = { [3] = 0, [4] = 1 } }, stats.sessions)
    assert.are.same({ ["/"] = 1, ["/chat"] = 0 }, stats.sockets)
    assert.are.equal(1, stats.handshakes)
    assert.are.same({ [0] = 0, 0, 0, 0, 0, 0 }, stats.handshakes_refused)
    assert.are.equal(1, stats.connections)
    -- in: CONNECT, the call, the event; out: OPEN, the CONNECT reply, the ack
    assert.are.same({ polling = 0, websocket = 3 }, stats.packets_in)
    assert.are.same({ polling = 0, websocket = 3 }, stats.packets_out)
    assert.are.equal(1, stats.acks_replied)
    assert.are.equal(0, stats.acks_sent)
    assert.is_nil(stats.redis)
    assert.are.equal("integer", math.type(stats.bytes_in.websocket))
    assert.matches('sio_sockets{namespace="/"} 1\n', text, 1, true)
    assert.matches('sio_engine_packets_received_total{transport="websocket"} 3\n', text, 1, true)

    local status, headers, body = curl(s, "", "/metrics")
    assert.are.equal(200, status)
    assert.are.equal("text/plain; version=0.0.4; charset=utf-8", headers["content-type"])
    assert.matches('sio_acks_replied_total 1\n', body, 1, true)
    status = curl(s, "-X POST", "/metrics")
    assert.are.equal(405, status)
  end)

  it("no metrics_path: nothing served; a bad one is refused", function()
    local s = server()
    assert.are.equal(404, (curl(s, "", "/metrics")))
    assert.has_error(function() sio.server { host = "127.0.0.1", port = 0, metrics_path = "metrics" } end)
  end)
end)
