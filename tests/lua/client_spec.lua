-- sio.client(): the Lua client (bindings/lua/manager.c, csocket.c over sio_client.h) against the
-- contract servers (examples/contract: the C one, sio-contract, and the Lua one under siod; the
-- behaviour is /work/shared/contract.md's), an in-process Lua server, and a TCP proxy that cuts
-- connections (helpers/drop_proxy.py). Each test body runs in a handler coroutine of sio's
-- (sio.set_timeout), so that it may socket:call() and sio.sleep() as a client script does.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local procs = {}
local sockets = {}

after_each(function()
  for _, s in ipairs(sockets) do
    if s.io and not s.io.closed then s.io:close() end
  end
  sockets = {}
  H.pump(50)
  for i = #procs, 1, -1 do procs[i].stop() end
  procs = {}
  H.cleanup_temps()
end)

-- Runs fn in a handler coroutine, pumping the loop until it ends (ms at most); raises its error.
local function co(fn, ms)
  local done, err = false, nil
  sio.set_timeout(function()
    local ok, e = xpcall(fn, debug.traceback)
    done, err = true, not ok and e or nil
  end, 0)
  assert(H.run_until(function() return done end, ms or 15000), "the test's coroutine did not end in time")
  if err then error(err, 0) end
end

-- Inside co(): sleeps until cond() holds (ms at most); returns whether it did.
local function until_(cond, ms)
  local deadline = sio.monotonic() + (ms or 5000)
  while not cond() do
    if sio.monotonic() > deadline then return false end
    sio.sleep(10)
  end
  return true
end

-- A server process on a free port (or `port`): "c" (sio-contract) or "lua" (siod server.lua),
-- with contract flags.
local function start_contract(lang, flags, port)
  local log = H.tmpname()
  local cmd
  if lang == "c" then
    cmd = ("%s --host 127.0.0.1 --port %d %s"):format(H.q(H.build .. "/sio-contract"), port or 0, flags or "")
  else
    cmd = ("%s --host 127.0.0.1 --port %d %s %s"):format(H.q(H.siod), port or 0,
      H.q(H.root .. "/examples/contract/server.lua"), flags or "")
  end
  local p = H.spawn("exec timeout --foreground 120 " .. cmd, log)
  procs[#procs + 1] = p
  assert(H.wait_for(function() return p.output():match("listening on https?://[^:]+:(%d+)") or not p.running() end,
    10000), "the server did not start")
  p.port = tonumber(p.output():match("listening on https?://[^:]+:(%d+)"))
  assert(p.port, "the server did not start:\n" .. p.output())
  p.url = "http://127.0.0.1:" .. p.port
  return p
end

-- Sends sig to the command a process object runs under timeout(1) (its child).
local function signal_child(p, sig)
  local children = H.read_file(("/proc/%d/task/%d/children"):format(p.pid, p.pid)) or ""
  local n = 0
  for child in children:gmatch("%d+") do
    H.kill(tonumber(child), sig)
    n = n + 1
  end
  assert(n > 0, "no child process to signal")
end

-- sio.client(...), closed after the test.
local function client(url, opts)
  local s = sio.client(url, opts)
  sockets[#sockets + 1] = s
  return s
end

-- Collects every event a socket gets: rec.events[name] = {{args...}, ...}.
local function recorder(s)
  local rec = { events = {} }
  s:on_any(function(event, ...)
    local t = rec.events[event] or {}
    t[#t + 1] = table.pack(...)
    rec.events[event] = t
  end)
  for _, ev in ipairs({ "connect", "connect_error", "disconnect" }) do
    s:on(ev, function(...)
      local t = rec.events[ev] or {}
      t[#t + 1] = table.pack(...)
      rec.events[ev] = t
    end)
  end
  function rec.count(ev) return #(rec.events[ev] or {}) end
  function rec.first(ev) return (rec.events[ev] or {})[1] end
  return rec
end

local function connected(s, ms)
  return until_(function() return s.connected end, ms)
end

describe("sio.client", function()
  describe("arguments", function()
    it("refuses a bad URL and unknown or ill-typed options", function()
      assert.has_error(function() sio.client("nope") end)
      assert.has_error(function() sio.client("ftp://127.0.0.1:1") end)
      assert.error_matches(function() sio.client("http://127.0.0.1:1", { reconection = false }) end,
        "unknown option 'reconection'")
      assert.error_matches(function() sio.client("http://127.0.0.1:1", { transports = { "carrier-pigeon" } }) end,
        "transports")
      assert.error_matches(function() sio.client("http://127.0.0.1:1", { auth = "x" }) end, "auth")
      assert.error_matches(function() sio.client("http://127.0.0.1:1", { randomizationFactor = 2 }) end,
        "randomizationFactor")
    end)

    it("require 'sio' ignores SIGPIPE (a write to a closed peer is EPIPE, not death under lua5.4)", function()
      local f = assert(io.open("/proc/self/status"))
      local mask = f:read("a"):match("SigIgn:%s*(%x+)")
      f:close()
      -- SIGPIPE is 13: bit 12 of the mask, the 4th hex digit from the right, value 1.
      local digit = tonumber(mask:sub(-4, -4), 16)
      assert.equal(1, digit & 1)
    end)

    it("socket:call outside a handler's coroutine raises a clear error", function()
      local s = client("http://127.0.0.1:1", { autoConnect = false, reconnection = false })
      assert.error_matches(function() s:call("echo", 1) end, "inside a handler's coroutine")
    end)
  end)

  for _, lang in ipairs({ "c", "lua" }) do
    describe("against the " .. lang .. " contract server", function()
      local srv
      before_each(function() srv = start_contract(lang) end)

      it("connects with auth: connect, id, connected, the server's auth event", function()
        co(function()
          local s = client(srv.url, { auth = { token = "abc", n = 1 } })
          local rec = recorder(s)
          assert.is_true(until_(function() return rec.count("auth") == 1 end))
          assert.are.same({ token = "abc", n = 1 }, rec.first("auth")[1])
          assert.equal(1, rec.count("connect"))
          assert.is_true(s.connected)
          assert.is_false(s.disconnected)
          assert.is_string(s.id)
          assert.is_false(s.recovered)
          assert.equal("/", s.nsp)
        end)
      end)

      it("message -> message-back; echo acked by callback and by call(); binary at any depth", function()
        co(function()
          local s = client(srv.url)
          local rec = recorder(s)
          assert.is_true(connected(s))
          s:emit("message", "hi", 2, { a = { true, sio.null } })
          assert.is_true(until_(function() return rec.count("message-back") == 1 end))
          s:send("sent") -- emit("message", ...)
          assert.is_true(until_(function() return rec.count("message-back") == 2 end))
          assert.equal("sent", rec.events["message-back"][2][1])
          local got = rec.first("message-back")
          assert.equal("hi", got[1])
          assert.equal(2, got[2])
          assert.is_true(got[3].a[1])
          assert.equal(sio.null, got[3].a[2])
          -- an ack callback gets the answer alone, as socket.io-client's
          local answered
          s:emit("echo", "x", 1.5, function(...) answered = table.pack(...) end)
          assert.is_true(until_(function() return answered ~= nil end))
          assert.equal(2, answered.n)
          assert.equal("x", answered[1])
          assert.equal(1.5, answered[2])
          -- call() waits in this coroutine
          local a, b = s:call("echo", "y", { k = "v" })
          assert.equal("y", a)
          assert.are.same({ k = "v" }, b)
          assert.equal("z", s:emit_with_ack("echo", "z"))
          assert.equal("w", s:emitWithAck("echo", "w"))
          -- binary nested in tables comes back as binary
          local bin = sio.binary("\0\1\2\255")
          local r = s:call("echo", { list = { 1, { deep = bin } }, top = sio.binary("") })
          assert.is_true(sio.is_binary(r.list[2].deep))
          assert.equal("\0\1\2\255", r.list[2].deep:bytes())
          assert.equal("", r.top:bytes())
          local direct = s:call("echo", sio.binary("abc"))
          assert.equal("abc", tostring(direct))
        end)
      end)

      it("broadcast reaches every socket; rooms: join acks the rooms, to-room-others", function()
        co(function()
          local a = client(srv.url, { forceNew = true })
          local b = client(srv.url, { forceNew = true })
          assert.is_not.equal(a.io, b.io)
          local ra, rb = recorder(a), recorder(b)
          assert.is_true(connected(a) and connected(b))
          a:emit("broadcast", "all", 1)
          assert.is_true(until_(function() return ra.count("broadcast") == 1 and rb.count("broadcast") == 1 end))
          assert.are.same({ "all", 1, n = 2 }, rb.first("broadcast"))
          local rooms = a:call("join", "r1")
          local want = { a.id, "r1" }
          table.sort(want)
          assert.are.same(want, setmetatable(rooms, nil))
          assert.is_truthy(b:call("join", "r1"))
          b:emit("to-room-others", "r1", "hello")
          assert.is_true(until_(function() return ra.count("room-message") == 1 end))
          assert.are.same({ "r1", "hello", n = 2 }, ra.first("room-message"))
          sio.sleep(100)
          assert.equal(0, rb.count("room-message"))
        end)
      end)

      it("ask: the server's ack request, answered by return values and by the ack function", function()
        co(function()
          local s = client(srv.url)
          assert.is_true(connected(s))
          s:on("sum", function(x, y) return x + y end)
          s:on("later", function(word, ack)
            assert.is_true(sio.is_ack(ack))
            sio.sleep(20)
            assert.is_true(ack(word:upper(), "done"))
            assert.error_matches(function() ack("twice") end, "already sent")
          end)
          local r = s:call("ask", "sum", 2, 3)
          assert.is_true(r.ok)
          assert.are.same({ 5 }, setmetatable(r.args, nil))
          r = s:call("ask", "later", "hey")
          assert.are.same({ "HEY", "done" }, setmetatable(r.args, nil))
          -- no listener: the server's wait times out
          r = s:call("ask", "nobody-listens")
          assert.is_false(r.ok)
          assert.equal("timeout", r.error)
        end)
      end)

      it("count; disconnect-me: io server disconnect, no reconnection", function()
        co(function()
          local s = client(srv.url, { reconnectionDelay = 50, reconnectionDelayMax = 100 })
          local rec = recorder(s)
          local attempts = 0
          s.io:on("reconnect_attempt", function() attempts = attempts + 1 end)
          assert.is_true(connected(s))
          assert.is_true(s:call("count") >= 1)
          s:emit("disconnect-me")
          assert.is_true(until_(function() return rec.count("disconnect") == 1 end))
          assert.equal("io server disconnect", rec.first("disconnect")[1])
          sio.sleep(400)
          assert.is_false(s.connected)
          assert.equal(0, attempts)
          assert.equal(1, rec.count("connect"))
          -- connect() again is the way back
          s:connect()
          assert.is_true(connected(s))
          s:disconnect()
          assert.is_true(until_(function() return rec.count("disconnect") == 2 end))
          assert.equal("io client disconnect", rec.events.disconnect[2][1])
        end)
      end)

      it("namespaces: /custom shares the connection; /admin refused then accepted; dynamic; unknown", function()
        co(function()
          local root = client(srv.url)
          local custom = client(srv.url .. "/custom", { auth = { who = "c" } })
          assert.equal(root.io, custom.io) -- one manager, as io() multiplexes
          local rc = recorder(custom)
          assert.is_true(until_(function() return rc.count("auth") == 1 end))
          assert.are.same({ who = "c" }, rc.first("auth")[1])
          assert.equal("/custom", custom.nsp)

          local admin = client(srv.url .. "/admin", { auth = { token = "wrong" } })
          local ra = recorder(admin)
          assert.is_true(until_(function() return ra.count("connect_error") == 1 end))
          local err = ra.first("connect_error")[1]
          assert.equal("unauthorized", err.message)
          assert.equal("unauthorized", tostring(err))
          assert.is_nil(err.data)
          assert.is_false(admin.connected)
          admin.auth = { token = "secret" }
          admin:connect()
          assert.is_true(until_(function() return ra.count("welcome") == 1 end))
          assert.equal(admin.id, ra.first("welcome")[1])

          local dyn = client(srv.url .. "/dyn-abc1")
          local rd = recorder(dyn)
          assert.is_true(until_(function() return rd.count("nsp") == 1 end))
          assert.equal("/dyn-abc1", rd.first("nsp")[1])

          local nope = client(srv.url .. "/nope")
          local rn = recorder(nope)
          assert.is_true(until_(function() return rn.count("connect_error") == 1 end))
          assert.equal("Invalid namespace", rn.first("connect_error")[1].message)

          -- the same namespace again: a new manager (io()'s sameNamespace rule)
          local again = client(srv.url .. "/custom")
          assert.is_not.equal(custom.io, again.io)
          assert.is_true(connected(again))
        end)
      end)

      it("timeouts: timeout(ms):emit gets err first; call() gets nil, 'timeout'; onAny and off", function()
        co(function()
          local s = client(srv.url)
          assert.is_true(connected(s))
          local got
          s:timeout(150):emit("message", "no ack for this", function(err, ...) got = table.pack(err, ...) end)
          assert.is_true(until_(function() return got ~= nil end, 3000))
          assert.matches("^ETIMEDOUT", got[1])
          local ok
          s:timeout(2000):emit("echo", 7, function(err, v) ok = { err, v } end)
          assert.is_true(until_(function() return ok ~= nil end))
          assert.is_nil(ok[1])
          assert.equal(7, ok[2])
          local v, e = s:timeout(150):call("message", "again")
          assert.is_nil(v)
          assert.equal("timeout", e)
          -- once, off
          local n = 0
          local fn = function() n = n + 1 end
          s:once("message-back", fn)
          s:emit("message", 1)
          s:emit("message", 2)
          sio.sleep(100)
          assert.equal(1, n)
          s:on("message-back", fn)
          s:off("message-back", fn)
          s:emit("message", 3)
          sio.sleep(100)
          assert.equal(1, n)
          -- volatile: sent when connected
          local back = 0
          s:on("message-back", function() back = back + 1 end)
          assert.is_true(s.volatile:emit("message", "v"))
          assert.is_true(until_(function() return back == 1 end))
          sio.sleep(50) -- (the transport writable again: a volatile emit is dropped while a write is on)
          assert.is_true(s:volatile():emit("message", "v2")) -- socket.io-client's spelling
          assert.is_true(until_(function() return back == 2 end))
          -- a reserved name raises
          assert.error_matches(function() s:emit("connect") end, "emit")
        end)
      end)
    end)
  end

  it("options reach the server: query, extraHeaders, path; polling only; sio.manager and socket()", function()
    local server = assert(sio.server { host = "127.0.0.1", port = 0, path = "/rt/" })
    local seen = {}
    server:on("connection", function(socket)
      seen[#seen + 1] = { query = socket.handshake.query, headers = socket.handshake.headers, nsp = socket.nsp.name,
        auth = socket.auth }
    end)
    server:of("/second"):on("connection", function(socket) seen[#seen + 1] = { nsp = "/second" } end)
    local url = ("http://127.0.0.1:%d"):format(server.port)
    co(function()
      local s = client(url .. "/?from=url", { path = "/rt/", transports = { "polling" },
        query = { k = "a b&c", n = 1 }, extraHeaders = { ["X-Sio-Test"] = "yes" } })
      assert.is_true(connected(s))
      assert.equal("polling", s.io.transport)
      assert.is_string(s.io.sid)
      assert.equal("a b&c", seen[1].query.k)
      assert.equal("1", seen[1].query.n)
      assert.equal("url", seen[1].query.from)
      assert.equal("yes", seen[1].headers["x-sio-test"])
      sio.sleep(200)
      assert.equal("polling", s.io.transport) -- never upgraded
      local m = sio.manager(url, { path = "/rt/", transports = { "websocket" } })
      local a = m:socket("/second", { auth = { x = 1 } })
      sockets[#sockets + 1] = a
      assert.equal(m, a.io)
      assert.is_true(connected(a))
      assert.equal("websocket", m.transport)
      assert.equal("/second", seen[2].nsp)
      assert.has_error(function() m:socket("/second") end)
      -- manager:close(): its sockets disconnect for good and answer as closed
      local reason
      a:on("disconnect", function(r) reason = r end)
      m:close()
      assert.is_true(until_(function() return reason ~= nil end))
      assert.equal("io client disconnect", reason)
      assert.is_true(m.closed)
      assert.is_false(a.connected)
      local ok, err = a:emit("x")
      assert.is_nil(ok)
      assert.matches("^ECLOSED", err)
      assert.has_error(function() m:socket("/third") end)
    end)
    server:close()
    H.pump(50)
  end)

  it("a dead port: connect_error, reconnect attempts, reconnect_failed; a listener's error is logged", function()
    -- a port nobody listens on: bind one, close it
    local probe = assert(sio.server { host = "127.0.0.1", port = 0 })
    local port = probe.port
    probe:close()
    H.pump(50)
    co(function()
      local s = client("http://127.0.0.1:" .. port, { reconnectionAttempts = 2, reconnectionDelay = 20,
        reconnectionDelayMax = 40 })
      local rec = recorder(s)
      local attempts, errors, failed = {}, 0, false
      s.io:on("reconnect_attempt", function(n) attempts[#attempts + 1] = n end)
      s.io:on("reconnect_error", function(e) errors = errors + 1; assert(e.message) end)
      s.io:on("reconnect_failed", function() failed = true end)
      s:on("connect_error", function() error("a listener that raises") end)
      assert.is_true(until_(function() return failed end, 5000))
      assert.are.same({ 1, 2 }, attempts)
      assert.equal(2, errors)
      assert.is_true(rec.count("connect_error") >= 1)
      assert.is_string(rec.first("connect_error")[1].message)
      assert.is_false(s.connected)
    end)
  end)

  it("speaks the msgpack parser and Engine.IO 3 (socket.io 2.x servers)", function()
    for _, case in ipairs({ { flags = "--parser msgpack", opts = { parser = "msgpack" } },
      { flags = "--allow-eio3", opts = { eio = 3 } } }) do
      local srv = start_contract("c", case.flags)
      co(function()
        local s = client(srv.url, case.opts)
        local rec = recorder(s)
        assert.is_true(connected(s), case.flags)
        local r = s:call("echo", { n = 1, b = sio.binary("\1\2") }, "x")
        assert.equal(1, r.n)
        assert.equal("\1\2", r.b:bytes())
        s:emit("message", "m")
        assert.is_true(until_(function() return rec.count("message-back") == 1 end))
        s:off_any()
        s:emit("message", "m2")
        sio.sleep(100)
        assert.equal(1, rec.count("message-back")) -- the catch-all was the recorder
      end)
    end
  end)

  it("wss with the test's CA (ca), refused without it, accepted with rejectUnauthorized = false", function()
    local dir = H.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. H.q(dir)))
    local function sh(cmd) assert(os.execute(cmd .. " >/dev/null 2>&1"), cmd) end
    local function at(f) return H.q(dir .. "/" .. f) end
    sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj '/CN=sio lua client CA'")
      :format(at("ca.key"), at("ca.pem")))
    H.write_file(dir .. "/ext.cnf", "subjectAltName=IP:127.0.0.1\n")
    sh(("openssl req -newkey rsa:2048 -nodes -keyout %s -out %s -subj '/CN=127.0.0.1'"):format(at("srv.key"),
      at("srv.csr")))
    sh(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s -days 2 -extfile %s")
      :format(at("srv.csr"), at("ca.pem"), at("ca.key"), at("srv.crt"), at("ext.cnf")))
    local srv = start_contract("c", ("--tls-cert %s --tls-key %s"):format(at("srv.crt"), at("srv.key")))
    local url = "https://127.0.0.1:" .. srv.port
    co(function()
      local good = client(url, { ca = dir .. "/ca.pem", forceNew = true })
      assert.is_true(connected(good))
      assert.equal("tls", good:call("echo", "tls"))
      local wss = client("wss://127.0.0.1:" .. srv.port, { ca = dir .. "/ca.pem", transports = { "websocket" } })
      assert.is_true(connected(wss))
      local bad = client(url, { forceNew = true, reconnection = false })
      local rec = recorder(bad)
      assert.is_true(until_(function() return rec.count("connect_error") == 1 end))
      assert.is_false(bad.connected)
      local lax = client(url, { forceNew = true, rejectUnauthorized = false })
      assert.is_true(connected(lax))
    end)
    os.execute("rm -rf " .. H.q(dir))
  end)

  it("memory stays flat over 100k acks (callbacks, call() in coroutines, acks to the server)", function()
    local srv = start_contract("c")
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
    local socks = {}
    for i = 1, 4 do
      socks[i] = client(srv.url, { forceNew = true, transports = { "websocket" } })
      socks[i]:on("q", function(x) return x end)
    end
    assert.is_true(H.run_until(function()
      for _, x in ipairs(socks) do if not x.connected then return false end end
      return true
    end, 5000))
    local n = 0
    local function drive(count)
      local target = n + count
      for i = 1, 2 do -- callbacks, a window of 4 per socket
        for _ = 1, 4 do
          local function again() if n < target then n = n + 1; socks[i]:emit("echo", "payload", n, again) end end
          again()
        end
      end
      for i = 3, 4 do -- call() and the server's ack requests, in coroutines
        sio.set_timeout(function()
          while n < target do
            n = n + 1
            local r = (n % 8 == 0) and socks[i]:call("ask", "q", n) or socks[i]:call("echo", { n = n })
            assert(r)
          end
        end, 0)
      end
      assert(H.run_until(function() return n >= target end, 30000), "the acks did not come")
      H.pump(100)
    end
    drive(10000)
    local heap0, rss0 = settle()
    drive(100000)
    local heap1, rss1 = settle()
    assert.is_true(heap1 - heap0 < 1024, ("Lua heap grew %.0f KiB"):format(heap1 - heap0))
    assert.is_true(rss1 - rss0 < 8 * 1024, ("RSS grew %.0f KiB"):format(rss1 - rss0))
  end)

  it("refused with data by a Lua server's middleware: err.message and err.data", function()
    local server = assert(sio.server { host = "127.0.0.1", port = 0 })
    server:of("/guarded"):use(function(socket, auth, next)
      next({ message = "not allowed", data = { code = 42, why = { "no token" } } })
    end)
    co(function()
      local s = client(("http://127.0.0.1:%d/guarded"):format(server.port), { reconnection = false })
      local rec = recorder(s)
      assert.is_true(until_(function() return rec.count("connect_error") == 1 end))
      local err = rec.first("connect_error")[1]
      assert.equal("not allowed", err.message)
      assert.equal(42, err.data.code)
      assert.equal("no token", err.data.why[1])
    end)
    server:close()
    H.pump(50)
  end)

  it("reconnects after the server is killed and restarted on its port: buffered emits go once", function()
    local srv = start_contract("c")
    local port = srv.port
    local s = client(srv.url, { reconnectionDelay = 100, reconnectionDelayMax = 300, transports = { "websocket" } })
    local rec = recorder(s)
    local attempts, reconnected, errors = 0, nil, 0
    s.io:on("reconnect_attempt", function(n) attempts = n end)
    s.io:on("reconnect", function(n) reconnected = n end)
    s.io:on("reconnect_error", function() errors = errors + 1 end)
    assert.is_true(H.run_until(function() return s.connected end, 5000))
    local first_id = s.id
    signal_child(srv, "KILL") -- a crash: no DISCONNECT (SIGTERM's graceful shutdown would send one)
    srv.stop()
    assert.is_true(H.run_until(function() return rec.count("disconnect") == 1 end, 5000))
    assert.equal("transport close", rec.first("disconnect")[1])
    -- emitted while down: kept in the send buffer
    s:emit("message", "while down", 1)
    s:emit("message", "while down", 2)
    assert.equal(2, s.buffered)
    H.pump(400) -- a few attempts fail (refused)
    assert.is_true(attempts >= 1)
    assert.is_true(errors >= 1)
    start_contract("c", "", port)
    assert.is_true(H.run_until(function() return rec.count("connect") == 2 end, 8000))
    assert.is_true(reconnected >= 1)
    assert.is_not.equal(first_id, s.id)
    assert.is_true(H.run_until(function() return rec.count("message-back") == 2 end, 3000))
    H.pump(200)
    assert.equal(2, rec.count("message-back")) -- once each
    assert.equal(1, rec.events["message-back"][1][2])
    assert.equal(2, rec.events["message-back"][2][2])
    assert.equal(0, s.buffered)
  end)

  it("recovers the session with --recovery after the connection is cut", function()
    local srv = start_contract("c", "--recovery")
    local out = H.tmpname()
    local proxy = H.spawn(("exec timeout --foreground 60 %s %s %d"):format(H.q(H.python),
      H.q(H.root .. "/tests/lua/helpers/drop_proxy.py"), srv.port), out)
    procs[#procs + 1] = proxy
    assert(H.wait_for(function() return proxy.output():match("proxy on (%d+)") end, 5000), proxy.output())
    local pport = tonumber(proxy.output():match("proxy on (%d+)"))
    local s = client("http://127.0.0.1:" .. pport, { reconnectionDelay = 100, reconnectionDelayMax = 200 })
    local rec = recorder(s)
    assert.is_true(H.run_until(function() return s.connected end, 5000))
    assert.is_false(s.recovered)
    local id = s.id
    s:emit("message", "m1")
    assert.is_true(H.run_until(function() return rec.count("message-back") == 1 end, 3000))
    -- with recovery on, an event's last argument is its offset
    local m = rec.first("message-back")
    assert.equal("m1", m[1])
    assert.is_string(m[2])
    -- cut once on WebSocket: the server sees that connection close at once (a polling session would
    -- stay open on the server until its ping timeout, and a restore needs the old socket gone)
    assert.is_true(H.run_until(function() return s.io.transport == "websocket" end, 5000))
    -- an ack the server asked for on this connection, answered after the reconnection: refused
    local late
    s:on("slow", function(ack)
      while rec.count("connect") < 2 do sio.sleep(10) end
      late = table.pack(ack("too late"))
    end)
    s:emit("ask", "slow", function() end)
    H.pump(50)
    signal_child(proxy, "USR1")
    assert.is_true(H.run_until(function() return rec.count("connect") == 2 end, 8000))
    local why = ("disconnect %s, id %s then %s"):format(tostring((rec.first("disconnect") or {})[1]), id,
      tostring(s.id))
    assert.equal(1, rec.count("disconnect"), why)
    assert.is_true(s.recovered, why)
    assert.equal(id, s.id)
    assert.is_true(H.run_until(function() return late ~= nil end, 3000))
    assert.is_nil(late[1])
    assert.matches("^ECLOSED", late[2])
  end)

  it("runs a client-only script to its end under lua5.4 (sio.run) and under siod", function()
    local srv = start_contract("c")
    local script = H.tmpname(".lua")
    H.write_file(script, ([[
local sio = require "sio"
local s = sio.client("%s", { reconnection = false })
s:on("connect", function()
  local v = s:call("echo", "from a script")
  print("echo:", v)
  s:disconnect()
end)
s:on("connect_error", function(e) print("error:", tostring(e)) end)
sio.run()
print("loop ended")
]]):format(srv.url))
    for _, cmd in ipairs({ ("LUA_CPATH=%s %s %s"):format(H.q(H.build .. "/lua/?.so;;"), H.q(H.lua), H.q(script)),
      ("%s %s"):format(H.q(H.siod), H.q(script)) }) do
      local out = H.tmpname()
      local p = H.spawn("exec timeout --foreground 20 env " .. cmd, out)
      procs[#procs + 1] = p
      assert.equal(0, H.wait_exit(p, 20000), p.output())
      assert.matches("echo:%s+from a script", p.output())
      assert.matches("loop ended", p.output())
    end
  end)
end)
