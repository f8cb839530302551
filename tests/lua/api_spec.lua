-- The Lua API of sio in-process (require "sio"), the loop pumped with sio.run("once") while real
-- clients (tests/lua/helpers/client.py, python-socketio) run in the background.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers, procs = {}, {}

-- A server on 127.0.0.1, on a port the OS picks; closed after the test.
local function server(opts)
  opts = opts or {}
  opts.host = opts.host or "127.0.0.1"
  opts.port = opts.port or 0
  local s = assert(sio.server(opts))
  servers[#servers + 1] = s
  return s
end

local function client(scenario, port, arg)
  local p = H.client(scenario, port, arg)
  procs[#procs + 1] = p
  return p
end

-- Pumps until the clients are done; fails with their output if they are not.
local function finish(...)
  local cs = { ... }
  local ok = H.run_clients(cs, 15000)
  if not ok then
    local t = {}
    for _, c in ipairs(cs) do t[#t + 1] = c.output() end
    error("clients not done in time:\n" .. table.concat(t, "\n---\n"))
  end
  for _, c in ipairs(cs) do
    for _, r in ipairs(c.results()) do
      assert(r.fatal == nil, "client failed: " .. c.output())
    end
  end
end

-- A lua5.4 script in a process of its own (stdout and stderr in files), for what an in-process
-- test cannot watch: the log on stderr, sio.run() returning after sio.shutdown().
local function lua_process(source)
  local script = H.tmpname(".lua")
  H.write_file(script, source)
  local out, err = H.tmpname(), H.tmpname()
  local p = H.spawn(("exec timeout --foreground 60 %s %s"):format(H.q(H.lua), H.q(script)), out, err)
  procs[#procs + 1] = p
  assert(H.wait_for(function() return p.output():match("port (%d+)") or not p.running() end, 10000),
    "the script did not start")
  p.port = tonumber(p.output():match("port (%d+)"))
  assert(p.port, "the script did not start: " .. p.output() .. p.errors())
  return p
end

after_each(function()
  for _, p in ipairs(procs) do p.stop() end
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers, procs = {}, {}
  H.cleanup_temps()
end)

local function sorted(t)
  table.sort(t)
  return t
end

-- ---------------------------------------------------------------------------------------------

describe("sio.server", function()
  it("listens on a port the OS picks and reports port, host and path", function()
    local s = server()
    assert.is_true(math.type(s.port) == "integer" and s.port > 0)
    assert.are.equal("127.0.0.1", s.host)
    assert.are.equal("/socket.io/", s.path)
    assert.are.equal("/", s.name)
    assert.is_false(s.closed)

    local custom = server { path = "/custom/" }
    assert.are.equal("/custom/", custom.path)
    assert.are_not.equal(s.port, custom.port)
    local joined = false
    custom:on("connection", function(socket) joined = socket.id end)
    local c = client("connect", custom.port, { { path = "custom" }, { path = "socket.io" } })
    finish(c)
    assert.is_true(c.find("attempt", 0).ok, c.output())
    assert.are.equal(c.find("attempt", 0).sid, joined)
    assert.is_false(c.find("attempt", 1).ok) -- nothing at /socket.io/ on that server
  end)

  it("answers nil, message, name when the port is in use", function()
    local s = server()
    local s2, err, name = sio.server { host = "127.0.0.1", port = s.port }
    assert.is_nil(s2)
    assert.are.equal("EADDRINUSE", name)
    assert.matches("^EADDRINUSE: .", err)
    -- the first one is unharmed
    assert.is_false(s.closed)
    local c = client("connect", s.port, { {} })
    finish(c)
    assert.is_true(c.find("attempt", 0).ok, c.output())
  end)

  it("raises on options of the wrong type or out of range", function()
    local bad = {
      { port = "abc" }, { port = 1.5 }, { port = 70000 }, { port = -1 }, { path = 42 }, { host = true },
      { cors = { 1 } }, { cors = 7 }, { transports = { "carrier-pigeon" } }, { transports = {} },
      { ping_interval = 0 }, { ping_timeout = "x" }, { max_payload = 0 }, { connect_timeout = {} },
      { max_attachments = -1 },
    }
    for _, o in ipairs(bad) do
      o.host = o.host == nil and "127.0.0.1" or o.host
      local ok, err = pcall(sio.server, o)
      assert.is_false(ok, "accepted " .. sio.json.encode(o))
      assert.matches("sio%.server", tostring(err))
    end
    assert.has_error(function() sio.server("not a table") end)
    assert.has_error(function() sio.server { redis_requests_timeout = 0 } end)
    assert.has_error(function() sio.server(42) end)
  end)

  it("redis_mode and each engine's options: bad ones raise, naming the option", function()
    local url = "redis://127.0.0.1:1" -- nothing listens: not an error at construction
    local function refused(o, pattern)
      o.host, o.port = "127.0.0.1", 0
      local ok, err = pcall(sio.server, o)
      assert.is_false(ok, "accepted " .. sio.json.encode(o))
      assert.matches(pattern, tostring(err))
    end
    refused({ redis = url, redis_mode = "stream" },
      "option 'redis_mode' must be \"classic\", \"sharded\" or \"streams\", not stream")
    refused({ redis = url, redis_mode = 3 }, "option 'redis_mode' must be .*, not number")
    refused({ redis_mode = "streams" }, "option 'redis_mode' needs redis = URL")
    refused({ redis = url, redis_mode = "sharded", redis_subscription_mode = "sometimes" },
      "option 'redis_subscription_mode' must be \"dynamic\", \"static\" or \"dynamic%-private\"")
    refused({ redis = url, redis_subscription_mode = "static" },
      "option 'redis_subscription_mode' needs redis_mode = \"sharded\"")
    refused({ redis = url, redis_mode = "sharded", redis_stream_name = "s" },
      "option 'redis_stream_name' needs redis_mode = \"streams\"")
    refused({ redis = url, redis_mode = "streams", redis_read_count = 0 }, "redis_read_count")
    for _, mode in ipairs { "classic", "sharded" } do
      local s = server({ redis = url, redis_mode = mode, redis_subscription_mode = mode == "sharded" and "static" or nil })
      assert.are.equal(url, s.redis)
      s:close()
    end
    local ok, s = pcall(sio.server, {
      host = "127.0.0.1", port = 0, redis = url, redis_mode = "streams", redis_stream_name = "mystream",
      redis_stream_count = 2, redis_max_len = 500, redis_read_count = 10, redis_block_time = 500,
      redis_session_key_prefix = "sess:", redis_sharded_pubsub = false,
    })
    if not ok and tostring(s):find("not in this build", 1, true) then
      pending("the streams engine is not in this build yet")
      return
    end
    assert.is_true(ok, tostring(s))
    assert.are.equal(url, s.redis)
    s:close()
  end)

  it("redis: a bad URL raises; alone, io.redis is nil and fetch_count answers the local count", function()
    local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, redis = "http://nope" })
    assert.is_false(ok)
    assert.matches("redis URL .* redis://", tostring(err))
    local s = server()
    assert.is_nil(s.redis)
    local got
    assert.is_true(s:fetch_count(function(e, n) got = { e, n } end))
    assert.is_true(H.run_until(function() return got ~= nil end, 2000))
    assert.is_nil(got[1])
    assert.are.equal(0, got[2])
    s:close()
  end)

  it("fetch_sockets(fn): the sockets as the nodes describe them, from the loop", function()
    local s = server()
    local got
    s:on("connection", function(socket)
      socket:join("picked")
      socket.data.user = "ann" -- reported as Node's socket.data, read when described (at the call)
      socket.data.n = { 1, 2 }
      assert.is_true(s:to("picked"):fetch_sockets(function(e, socks) got = { e, socks, socket.id } end))
      assert.is_nil(got) -- never inside the call
    end)
    local c = client("listen", s.port, { auth = { k = "v" }, wait = 1 })
    assert.is_true(H.run_until(function() return got ~= nil end, 5000), c.output())
    assert.is_nil(got[1])
    assert.are.equal(1, #got[2])
    local d = got[2][1]
    assert.are.equal(got[3], d.id)
    assert.are.same({ got[3], "picked" }, { d.rooms[1], d.rooms[2] })
    assert.are.equal("v", d.handshake.auth.k)
    assert.are.equal("127.0.0.1", d.handshake.address)
    assert.are.equal("4", d.handshake.query.EIO)
    assert.are.same({ user = "ann", n = { 1, 2 } }, { user = d.data.user, n = { d.data.n[1], d.data.n[2] } })
    -- without a function: this node's socket handles, now
    local now = s:fetch_sockets()
    assert.are.equal(1, #now)
    assert.are.equal(got[3], now[1].id)
    finish(c)
  end)

  it("cookie: the polling handshake sets NAME=<sid> as Node's cookie option, on io:engine too", function()
    local cases = {
      { nil, nil },
      { false, nil },
      { true, "io=%s; Path=/; HttpOnly; SameSite=Lax" },
      { "srv", "srv=%s; Path=/; HttpOnly; SameSite=Lax" },
      { { name = "srv", path = "/x", domain = "example.com", same_site = "strict", http_only = false,
          secure = true, max_age = 60 }, "srv=%s; Max-Age=60; Domain=example.com; Path=/x; Secure; SameSite=Strict" },
      { { path = false, same_site = false }, "io=%s; HttpOnly" },
    }
    for i, case in ipairs(cases) do
      local s = server { cookie = case[1] }
      s:engine { path = "/engine.io/" }
      local c = client("handshake", s.port, { paths = { "/socket.io/", "/engine.io/" } })
      finish(c)
      local got = {}
      for _, r in ipairs(c.results()) do
        if r.step == "handshake" then
          assert.are.equal(200, r.status)
          got[#got + 1] = true
          assert.are.same(case[2] and { case[2]:format(r.sid) } or {}, r.cookies, "case " .. i .. " " .. r.path)
        end
      end
      assert.are.equal(2, #got, c.output())
    end
    local bad = { "a b", "", { name = "a;b" }, { path = "/;x" }, { domain = "a\r\nb" }, { same_site = "lux" },
                  { colour = "red" }, { max_age = -1 }, { path = 7 }, 3.5 }
    for _, b in ipairs(bad) do
      local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, cookie = b })
      assert.is_false(ok, "accepted cookie " .. sio.json.encode(b))
      assert.matches("sio%.server: .*cookie", tostring(err))
    end
  end)

  it("per_message_deflate: compressed at the threshold, :compress(false) and small ones plain", function()
    for _, case in ipairs({ { true, 1024 }, { { threshold = 100 }, 100 } }) do
      local s = server { per_message_deflate = case[1] }
      s:on("connection", function(socket)
        socket:on("go", function(n)
          socket:emit("big", ("x"):rep(n))
          socket:compress(false):emit("plain", ("y"):rep(n))
          s:to(socket.id):compress(false):compress(true):emit("again", ("w"):rep(n))
          socket:emit("small", "z")
        end)
      end)
      local c = client("deflate", s.port, { send = { "go", case[2] }, frames = 4 })
      finish(c)
      local frames, ext = {}, nil
      for _, r in ipairs(c.results()) do
        if r.step == "upgrade" then ext = r.extensions end
        if r.step == "frame" then frames[#frames + 1] = r end
      end
      assert.are.same({ "permessage-deflate; server_no_context_takeover; client_no_context_takeover" }, ext)
      assert.are.equal(4, #frames, c.output())
      assert.is_true(frames[1].rsv1)
      assert.are.equal('42["big","' .. ("x"):rep(case[2]) .. '"]', frames[1].payload)
      assert.is_false(frames[2].rsv1)
      assert.are.equal('42["plain","' .. ("y"):rep(case[2]) .. '"]', frames[2].payload)
      assert.is_true(frames[3].rsv1)
      assert.is_false(frames[4].rsv1)
      assert.are.equal('42["small","z"]', frames[4].payload)
    end
    for _, b in ipairs({ "yes", { level = 3 }, { threshold = 0 } }) do
      local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, per_message_deflate = b })
      assert.is_false(ok, "accepted per_message_deflate " .. sio.json.encode(b))
      err = tostring(err)
      assert.is_truthy(err:match("sio%.server: .*per_message_deflate") or err:match("sio%.server: .*threshold"), err)
    end
  end)

  it("connection_state_recovery: pid, offsets, the same socket back with its rooms, data and missed events", function()
    local s = server { connection_state_recovery = { maxDisconnectionDuration = 5000, skip_middlewares = true } }
    local seen, mw = {}, 0
    s:use(function(socket, next) mw = mw + 1; next() end)
    s:on("connection", function(socket)
      seen[#seen + 1] = { id = socket.id, recovered = socket.recovered, name = socket.data.name,
                          rooms = sorted(socket:rooms()) }
      if not socket.recovered then
        socket.data.name = "ann"
        socket:join("r1")
        socket:emit("hello", 1)
        socket:on("disconnect", function()
          s:to("r1"):emit("missed", "r1")
          s:to("elsewhere"):emit("missed", "no")
          s:emit("missed", "all")
        end)
      end
    end)
    local c = client("recovery", s.port, { first = 1, second = 3 })
    finish(c)
    local r = {}
    for _, x in ipairs(c.results()) do if x.step then r[x.step] = x.packets end end
    local reply = sio.json.decode(r.first[1]:sub(2))
    assert.are.equal(20, #reply.pid)
    assert.are.equal('2["hello",1,"0"]', r.first[2])
    assert.are.same({ '2["missed","r1","1"]', '2["missed","all","3"]' }, { r.second[1], r.second[2] })
    assert.are.same({ sid = reply.sid, pid = reply.pid }, sio.json.decode(r.second[3]:sub(2)))
    assert.are.equal(2, #seen)
    assert.is_false(seen[1].recovered)
    assert.is_true(seen[2].recovered)
    assert.are.equal(reply.sid, seen[2].id)
    assert.are.equal("ann", seen[2].name)
    assert.are.same(sorted({ reply.sid, "r1" }), seen[2].rooms)
    assert.are.equal(1, mw) -- skip_middlewares
    for _, b in ipairs({ "yes", { unknown = 1 }, { max_disconnection_duration = -1 } }) do
      local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, connection_state_recovery = b })
      assert.is_false(ok, "accepted connection_state_recovery " .. sio.json.encode(b))
      assert.is_truthy(tostring(err):match("sio%.server: .*connection_state_recovery") or
        tostring(err):match("max_disconnection_duration"), tostring(err))
    end
  end)

  it("cors and same_origin: a page of another origin gets 403, its own or an allowed one connects", function()
    local cases = { -- options, Origin header, status
      { {}, "http://evil.example", 200 },
      { { same_origin = true }, "http://evil.example", 403 },
      { { same_origin = true }, "http://127.0.0.1:%d", 200 },
      { { same_origin = true }, nil, 200 },
      { { cors = { "http://a.example", "http://b.example" } }, "http://b.example", 200 },
      { { cors = "http://a.example" }, "http://a.example.evil", 403 },
      { { cors = "*" }, "http://evil.example", 200 },
    }
    for i, case in ipairs(cases) do
      local s = server(case[1])
      local c = client("handshake", s.port, { origin = case[2] and case[2]:format(s.port) })
      finish(c)
      local r = c.find("step", "handshake")
      assert.is_truthy(r, c.output())
      assert.are.equal(case[3], r.status, "case " .. i)
      if case[3] == 403 then assert.are.same({ code = 4, message = "Forbidden" }, sio.json.decode(r.body)) end
    end
  end)

  it("redis unreachable: fetch_count answers at once with EUNAVAIL and the local count", function()
    local s = server({ redis = "redis://127.0.0.1:1" }) -- port 1: refused
    assert.are.equal("redis://127.0.0.1:1", s.redis)
    local got
    assert.is_true(s:fetch_count(function(e, n) got = { e, n } end))
    assert.is_true(H.run_until(function() return got ~= nil end, 2000))
    assert.matches("^EUNAVAIL: ", got[1])
    assert.are.equal(0, got[2])
    s:close()
  end)

  it("closes with server:close(): soft failures while closing, errors once closed", function()
    local s = server()
    s:close()
    assert.is_true(s.closed)
    -- while it closes, a broadcast fails softly
    local ok, err, name = s:emit("x", 1)
    assert.is_nil(ok)
    assert.are.equal("ECLOSED", name)
    assert.matches("^ECLOSED: ", err)
    -- once closed, using it raises
    assert.is_true(H.run_until(function() return not pcall(s.count, s) end, 3000))
    local ok2, err2 = pcall(s.on, s, "connection", function() end)
    assert.is_false(ok2)
    assert.matches("the server is closed", err2)
    assert.is_false(pcall(s.of, s, "/x"))
    assert.is_true(s.closed)
    -- the port is free again
    local again = server { port = s.port }
    assert.are.equal(s.port, again.port)
  end)
end)

describe("a connection", function()
  it("gives the handler a socket with id, auth, handshake and a data table that persists", function()
    local s = server()
    local seen, got, reasons = {}, {}, {}
    s:on("connection", function(socket)
      seen.id = socket.id
      seen.auth = socket.auth
      seen.handshake = socket.handshake
      seen.connected = socket.connected
      seen.nsp = socket.nsp.name
      seen.str = tostring(socket)
      seen.data_type = type(socket.data)
      seen.ro = select(2, pcall(function() socket.id = "x" end))
      socket:on("remember", function(v)
        socket.data.value = v
        return true
      end)
      socket:on("recall", function() return socket.data.value end)
      socket:on("args", function(...)
        got.args = table.pack(...)
        return "ok"
      end)
      socket:on("noack", function(...) got.noack = table.pack(...) end)
      socket:on("explicit", function(ack)
        got.explicit_is_ack = sio.is_ack(ack)
        ack("a", 2)
        return "ignored: already acknowledged"
      end)
      socket:on("returns", function() return 1, "two", { 3 } end)
      socket:on("twice", function(ack)
        ack(1)
        got.twice = table.pack(pcall(ack, 2))
      end)
      socket:on("disconnecting", function(reason) reasons.disconnecting = reason end)
      socket:on("disconnect", function(reason)
        reasons.disconnect = reason
        reasons.connected_after = socket.connected
      end)
    end)
    local before = os.time()
    local c = client("basic", s.port)
    finish(c)
    H.run_until(function() return reasons.disconnect end, 5000)

    local r = c.results()
    local conn = c.find("step", "connect")
    assert.is_truthy(conn and conn.ok, c.output())
    assert.are.equal(conn.sid, seen.id)
    assert.are.equal("string", type(seen.id))
    assert.are.equal("sio.socket (" .. seen.id .. ")", seen.str)
    assert.is_true(seen.connected)
    assert.are.equal("/", seen.nsp)
    assert.are.same({ token = "abc", n = 1 }, seen.auth)
    assert.matches("read%-only", seen.ro)

    local hs = seen.handshake
    assert.are.equal("yes", hs.headers["x-test"])
    assert.are.equal("127.0.0.1:" .. s.port, hs.headers.host)
    assert.are.equal("bar", hs.query.foo)
    assert.are.equal("a b!", hs.query.sp)
    assert.are.equal("4", hs.query.EIO)
    assert.are.equal("polling", hs.query.transport)
    assert.are.equal("127.0.0.1", hs.address)
    assert.matches("^/socket%.io/%?", hs.url)
    assert.matches("foo=bar", hs.url)
    assert.are.equal("integer", math.type(hs.issued))
    assert.is_true(hs.issued >= (before - 1) * 1000 and hs.issued <= (os.time() + 1) * 1000)
    -- as Node's (JavaScript's Date.toString()), the core's sio_socket_handshake
    assert.matches("^%a%a%a %a%a%a %d%d %d%d%d%d %d%d:%d%d:%d%d GMT%+0000 %(Coordinated Universal Time%)$", hs.time)
    assert.is_false(hs.xdomain)
    assert.is_false(hs.secure)
    assert.are.same({ token = "abc", n = 1 }, hs.auth)

    -- socket.data kept the value between two handler calls
    assert.is_true(c.find("step", "remember").ack)
    assert.are.equal("kept", c.find("step", "recall").ack)
    assert.are.equal("table", seen.data_type)

    -- handler arguments: the client's, nil in its place, then the ack object
    local a = got.args
    assert.are.equal(6, a.n)
    assert.are.equal(1, a[1])
    assert.are.equal("two", a[2])
    assert.are.same({ k = { 1, 2 } }, a[3])
    assert.is_nil(a[4])
    assert.is_true(a[5])
    assert.is_true(sio.is_ack(a[6]))
    assert.are.equal("ok", c.find("step", "args").ack)
    -- no ack asked: no ack object
    assert.are.equal(1, got.noack.n)
    assert.are.equal("x", got.noack[1])

    -- ack(...) explicitly; the handler's results are not sent again
    assert.is_true(got.explicit_is_ack)
    assert.are.same({ "a", 2 }, c.find("step", "explicit").ack)
    -- return values become the ack
    assert.are.same({ 1, "two", { 3 } }, c.find("step", "returns").ack)
    -- an ack called twice raises
    assert.are.equal(1, c.find("step", "twice").ack)
    assert.is_false(got.twice[1])
    assert.matches("already sent", got.twice[2])

    assert.are.equal("client namespace disconnect", reasons.disconnect)
    assert.are.equal("client namespace disconnect", reasons.disconnecting)
    assert.is_false(reasons.connected_after)
    assert.is_nil(r.fatal)
  end)

  it("sends an echo's own args, converts what changed, and keeps an unanswered ack for later", function()
    local s = server()
    local got = {}
    s:on("connection", function(socket)
      local function echo(ack, ...) if ack then ack(...) end end
      socket:on("echo", function(...) echo(sio.split_ack(...)) end)
      -- return values are the ack too, the same rule
      local function rest(_, ...) return ... end
      socket:on("ret", function(...) return rest(sio.split_ack(...)) end)
      socket:on("mutate", function(t, ack) t.added = true; ack(t) end)
      socket:on("other", function(str, n, ack) ack(str .. "!", n + 1) end)
      socket:on("float", function(n, ack) ack(n + 0.0) end) -- 2 from the wire is an integer: now 2.0
      socket:on("keep", function(v, ack)
        got.kept = ack -- answered after its dispatch: converted, and freed by its finalizer
        sio.set_timeout(function() got.fired = table.pack(ack("later", v)) end, 10)
      end)
      socket:on("twice", function(ack) ack(1); got.twice = table.pack(pcall(ack, 2)); got.spent = ack end)
      socket:on("spent", function() got.late = table.pack(pcall(got.spent, 3)) end)
      socket:on("split", function(...)
        local t = table.pack(sio.split_ack(...))
        got.split = { n = t.n, ack = sio.is_ack(t[1]), rest = { table.unpack(t, 2, t.n) } }
      end)
    end)
    local long = string.rep("x", 300)
    local c = client("listen", s.port, { steps = {
      { "call", "echo", { "a", 1, 2.5, true, false, long } },
      { "call", "echo", { { k = { 1, 2 } }, "b" } },
      { "call", "ret", { "r", 7 } },
      { "call", "mutate", { { k = "v" } } },
      { "call", "other", { "s", 41 } },
      { "call", "float", { 2 } },
      { "call", "keep", { 5 } },
      { "call", "twice" },
      { "emit", "spent" },
      { "call", "split", { "x", "y" } },
    }, wait = 0.5 })
    finish(c)
    local function step(name) return c.find("step", name).ack end
    assert.are.same({ "a", 1, 2.5, true, false, long }, step("echo"))
    assert.are.same({ "r", 7 }, step("ret"))
    assert.are.same({ k = "v", added = true }, step("mutate"))
    assert.are.same({ "s!", 42 }, step("other"))
    assert.are.equal(2, step("float"))
    -- the kept ack answered after its event's dispatch: converted, sent once
    assert.are.same({ "later", 5 }, step("keep"))
    assert.is_true(got.fired[1])
    assert.are.equal(1, step("twice"))
    assert.is_false(got.twice[1])
    assert.matches("already sent", got.twice[2])
    -- answered during its dispatch, then called after it: raises the same
    assert.is_true(H.run_until(function() return got.late end, 5000))
    assert.is_false(got.late[1])
    assert.matches("already sent", got.late[2])
    assert.are.same({ n = 3, ack = true, rest = { "x", "y" } }, got.split)
    -- the kept ack is freed by its finalizer, the others at once: a full collection is quiet
    got.kept, got.spent = nil, nil
    collectgarbage()
    collectgarbage()
  end)

  it("socket:on_ack_first: the ack (or nil) first, in order with the other listeners", function()
    local s = server()
    local got = { order = {} }
    s:on("connection", function(socket)
      local function echo(ack, ...) if ack then ack(...) else got.no_ack = table.pack(ack, ...) end end
      socket:on_ack_first("echo", echo)
      socket:on_ack_first("ret", function(_, ...) return ... end) -- return values are its ack too
      -- a once listener and a removed one before an ack-first one: the entries shift, kinds stay
      local function gone() got.gone = true end
      socket:once("mixed", function(...) got.order[#got.order + 1] = { "once", select("#", ...) } end)
      socket:on("mixed", gone)
      socket:on_ack_first("mixed", function(ack, ...)
        got.order[#got.order + 1] = { "first", sio.is_ack(ack), ... }
        if ack then ack("ok") end
      end)
      socket:on("mixed", function(...) got.order[#got.order + 1] = { "plain", select("#", ...) } end)
      socket:off("mixed", gone)
      got.listeners = #socket:listeners("mixed")
      got.is_fn = type(socket:listeners("mixed")[2]) == "function"
      -- off with the function takes an ack-first listener off
      socket:on_ack_first("off", echo)
      socket:off("off", echo)
      socket:on("off", function(...) got.off = select("#", ...) end)
      -- after a middleware, which may change the packet: the ack first still
      socket:use(function(packet, next)
        if packet[1] == "used" then table.insert(packet, 2, "added") end
        next()
      end)
      socket:on_ack_first("used", function(ack, a, b) ack(b, a) end)
    end)
    local c = client("listen", s.port, { steps = {
      { "call", "echo", { "a", 1, { k = true } } },
      { "emit", "echo", { "x", 2 } },
      { "call", "ret", { "r", 7 } },
      { "call", "mixed", { "m" } },
      { "emit", "mixed", { "n" } },
      { "emit", "off", { 1 } },
      { "call", "used", { "u" } },
    }, wait = 0.5 })
    finish(c)
    local function step(name) return c.find("step", name).ack end
    assert.are.same({ "a", 1, { k = true } }, step("echo"))
    assert.are.same({ n = 3, [2] = "x", [3] = 2 }, got.no_ack)
    assert.are.same({ "r", 7 }, step("ret"))
    assert.are.equal(3, got.listeners)
    assert.is_true(got.is_fn)
    assert.is_nil(got.gone)
    assert.are.same({ { "once", 2 }, { "first", true, "m" }, { "plain", 2 }, { "first", false, "n" }, { "plain", 1 } },
      got.order)
    assert.are.equal(1, got.off)
    assert.are.equal("ok", step("mixed"))
    assert.are.same({ "u", "added" }, step("used"))
  end)

  it("catch-alls and middleware added after a socket's first events see the next ones", function()
    local s = server()
    local got = { any = {}, used = {}, heard = {} }
    s:on("connection", function(socket)
      socket:on("plain", function(v) got.heard[#got.heard + 1] = v end)
      socket:on("late", function()
        socket:on_any(function(event) got.any[#got.any + 1] = event end)
        socket:use(function(packet, next) got.used[#got.used + 1] = packet[1]; next() end)
        return "added"
      end)
    end)
    local c = client("listen", s.port, { steps = {
      { "emit", "plain", { 1 } },
      { "call", "late" },
      { "emit", "plain", { 2 } },
    }, wait = 0.3 })
    finish(c)
    assert.are.equal("added", c.find("step", "late").ack)
    assert.are.same({ 1, 2 }, got.heard)
    assert.are.same({ "plain" }, got.any)
    assert.are.same({ "plain" }, got.used)
  end)

  it("sio.split_ack and sio.is_ack outside a handler", function()
    assert.are.same({ n = 3, [2] = 1, [3] = 2 }, table.pack(sio.split_ack(1, 2)))
    assert.are.same({ n = 1 }, table.pack(sio.split_ack()))
    assert.are.same({ n = 2, [2] = sio.null }, table.pack(sio.split_ack(sio.null)))
    local t = {}
    assert.are.equal(t, select(3, sio.split_ack("a", t)))
    for _, v in ipairs({ 1, "s", t, sio.null, sio.binary("b"), print, true }) do assert.is_false(sio.is_ack(v)) end
    assert.is_false(sio.is_ack())
    assert.is_false(sio.is_ack(io.stdout)) -- a userdata of another metatable
  end)

  it("an ack whose socket went answers nil, \"ECLOSED\": during its dispatch, after it, kept from before", function()
    local s = server()
    local got = {}
    s:on("connection", function(socket)
      socket:on("kept", function(_, ack) got.kept = ack end) -- kept: answered once the socket went
      socket:on("bye", function(_, ack) -- ({}, ack): the client sends an empty table
        socket:disconnect()
        got.during = table.pack(ack("x")) -- in its dispatch, its socket gone
        got.bye = ack
        return "ignored" -- the socket is gone: a return value is no ack either
      end)
      socket:on("disconnect", function() got.gone = true end)
    end)
    local c = client("listen", s.port, { steps = { { "call", "kept", {}, 0.2 }, { "call", "bye", {}, 0.5 } }, wait = 0.5 })
    finish(c)
    assert.is_true(H.run_until(function() return got.gone end, 5000))
    assert.are.same({ nil, "ECLOSED", "ECLOSED", n = 3 }, { got.during[1], got.during[2]:match("^ECLOSED"), got.during[3], n = 3 })
    local after = table.pack(got.bye("y")) -- after its dispatch: no handle was made for it
    assert.are.equal(nil, after[1])
    assert.are.equal("ECLOSED", after[3])
    local kept = table.pack(got.kept("late")) -- a handle cut loose by the disconnect
    assert.are.equal(nil, kept[1])
    assert.are.equal("ECLOSED", kept[3])
    assert.is_true(c.find("step", "kept").timeout)
    got = {}
    collectgarbage()
    collectgarbage()
  end)

  it("takes fields of the script's own as Node's sockets do (socket.username = name)", function()
    local s = server()
    local seen = {}
    s:use(function(socket, next)
      socket.userID = "u-" .. socket.auth.token -- set in middleware, as socket.io's examples do
      next()
    end)
    s:on("connection", function(socket)
      seen.userID = socket.userID
      socket.username = "ann"
      socket.username = "bob" -- replaced
      socket.gone = true
      socket.gone = nil -- removed
      seen.gone = socket.gone
      seen.unset = socket.never_set
      socket.data = { replaced = true }
      seen.data = socket.data.replaced
      for _, key in ipairs { "id", "nsp", "handshake", "auth", "connected", "transport", "broadcast",
        "volatile", "emit", "on", "join", "to" } do
        local ok, err = pcall(function() socket[key] = "x" end)
        seen[#seen + 1] = not ok and err:match("socket%.(%w+) is read%-only") or ("accepted " .. key)
      end
      seen.id_ok = type(socket.id) == "string" and type(socket.emit) == "function"
      socket:on("disconnect", function() seen.after = { socket.username, socket.userID } end)
    end)
    local c = client("connect", s.port, { { auth = { token = "abc" } } })
    finish(c)
    assert.is_true(H.run_until(function() return seen.after end, 5000))
    assert.are.equal("u-abc", seen.userID)
    assert.is_nil(seen.gone)
    assert.is_nil(seen.unset)
    assert.is_true(seen.data)
    assert.are.same({ "id", "nsp", "handshake", "auth", "connected", "transport", "broadcast", "volatile", "emit",
      "on", "join", "to" }, { table.unpack(seen) })
    assert.is_true(seen.id_ok)
    assert.are.same({ "bob", "u-abc" }, seen.after) -- readable after the disconnect
  end)

  it("ends with \"server namespace disconnect\" after socket:disconnect()", function()
    local s = server()
    local reason, sock
    s:on("connection", function(socket)
      sock = socket
      socket:on("disconnect-me", function() socket:disconnect() end)
      socket:on("disconnect", function(r) reason = r end)
    end)
    local c = client("listen", s.port, { steps = { { "emit", "disconnect-me" } } })
    finish(c)
    H.run_until(function() return reason end, 5000)
    assert.are.equal("server namespace disconnect", reason)
    assert.is_false(sock.connected)
    assert.is_truthy(c.find("disconnect", true), c.output())
    assert.is_true(c.find("step", "wait").disconnected)
    -- a disconnected socket: emit is a no-op, as in Node (with a callback, that would never run:
    -- nil, "ECLOSED: ...", "ECLOSED")
    assert.is_true(sock:emit("late", 1))
    local ok, err, name = sock:emit("late", 1, function() end)
    assert.is_nil(ok)
    assert.are.equal("ECLOSED", name)
    assert.matches("^ECLOSED: ", err)
    -- its id stays
    assert.is_string(sock.id)
  end)
end)

describe("parser = \"msgpack\"", function()
  it("speaks socket.io-msgpack-parser: binary inline, values as with JSON", function()
    local s = server { parser = "msgpack" }
    local seen
    s:on("connection", function(socket)
      socket:on("echo", function(...)
        seen = table.pack(...)
        return table.unpack(seen, 1, seen.n - 1) -- the last is the ack
      end)
    end)
    -- {type: 2, data: ["echo", 1, -2, 1.5, "é", <00 ff>, {k: [true]}], nsp: "/", id: 3}
    local c = client("msgpack", s.port, { send = {
      "84a47479706502a46461746197a46563686f01fecb3ff8000000000000a2c3a9c40200ff81a16b91c3a36e7370a12fa2696403" } })
    finish(c)
    local polls = {}
    for _, r in ipairs(c.results()) do
      if r.step == "poll" then polls[#polls + 1] = r.messages end
    end
    assert.are.equal(2, #polls, c.output())
    assert.matches("^83a474797065" .. "00a464617461", polls[1][1]) -- the CONNECT reply {type: 0, data: {sid}}
    assert.are.equal(7, seen.n) -- 6 values and the ack
    assert.are.equal(1, seen[1])
    assert.are.equal(math.type(1), math.type(seen[1]))
    assert.are.equal(1.5, seen[3])
    assert.is_true(sio.is_binary(seen[5]))
    assert.are.equal("\0\255", seen[5]:bytes())
    assert.are.same({ k = { true } }, seen[6])
    -- the ack as Node writes it: {id: 3, type: 3, data: [...], nsp: "/"}
    assert.are.same({ "84a2696403a47479706503a4646174619601fecb3ff8000000000000a2c3a9c40200ff81a16b91c3a36e7370a12f" },
      polls[2])
  end)

  it("refuses other values", function()
    assert.has_error(function() sio.server { port = 0, parser = "json" } end)
    assert.has_error(function() sio.server { port = 0, parser = 1 } end)
  end)
end)

describe("emitting to a client", function()
  it("sends events, gets acks, times out acks that never come and carries binaries both ways", function()
    local s = server()
    local r = {}
    s:on("connection", function(socket)
      local function check()
        if r.ask and r.slow1 and r.slow2 then socket:emit("done") end
      end
      r.emit_ok = socket:emit("hello", 1, "two", { a = 1 }, sio.null)
      socket:emit("ask", 41, function(...)
        r.ask = table.pack(...)
        check()
      end)
      r.t0 = sio.now()
      socket:timeout(300):emit("slow", "a", function(...)
        r.slow1 = table.pack(...)
        r.slow1_ms = sio.now() - r.t0
        check()
      end)
      socket:emit("slow", "b", function(...)
        r.slow2 = table.pack(...)
        r.slow2_ms = sio.now() - r.t0
        check()
      end, { timeout = 300 })
      socket:emit("bin", sio.binary("\0\1\2\255"), { nested = sio.binary("xyz") }, "plain")
      socket:on("echo_bin", function(b, str)
        r.echo_in = { is_binary = sio.is_binary(b), bytes = sio.is_binary(b) and b:bytes(), str = str }
        return sio.binary(b:bytes():reverse()), str
      end)
    end)
    local c = client("emits", s.port)
    finish(c)

    assert.is_true(r.emit_ok)
    local hello = c.find("event", "hello")
    assert.is_truthy(hello, c.output())
    assert.are.same({ 1, "two", { a = 1 }, sio.null }, hello.args)

    -- the ack callback: (nil, the client's values)
    assert.are.equal(3, r.ask.n)
    assert.is_nil(r.ask[1])
    assert.are.equal("answer", r.ask[2])
    assert.are.equal(42, r.ask[3])

    -- the client never answers "slow": both timeouts (either form) give ETIMEDOUT
    assert.are.equal(2, #c.events("slow"))
    assert.matches("^ETIMEDOUT: ", r.slow1[1])
    assert.matches("^ETIMEDOUT: ", r.slow2[1])
    assert.is_true(r.slow1_ms >= 250 and r.slow1_ms < 3000, tostring(r.slow1_ms))
    assert.is_true(r.slow2_ms >= 250 and r.slow2_ms < 3000, tostring(r.slow2_ms))
    assert.is_true(c.find("step", "done").ok)

    -- sio.binary reaches the client as bytes, at the top level and nested
    local bin = c.find("event", "bin")
    assert.are.same({ "bytes", "dict", "str" }, bin.types)
    assert.are.same({ { hex = "000102ff" }, { nested = { hex = "78797a" } }, "plain" }, bin.args)
    -- the client's bytes arrive as a sio.binary, and one goes back
    assert.are.same({ is_binary = true, bytes = "\0\255ABC", str = "text" }, r.echo_in)
    local e = c.find("step", "echo_bin")
    assert.are.same({ "bytes", "str" }, e.types)
    assert.are.same({ { hex = "434241ff00" }, "text" }, e.ack)
  end)

  it("refuses reserved event names and functions among the arguments", function()
    local s = server()
    local r = {}
    s:on("connection", function(socket)
      r.reserved = {}
      for _, ev in ipairs { "connect", "connect_error", "disconnect", "disconnecting", "newListener",
        "removeListener" } do
        local ok, err = pcall(socket.emit, socket, ev, 1)
        r.reserved[#r.reserved + 1] = { ev = ev, ok = ok, err = tostring(err) }
      end
      r.broadcast_reserved = table.pack(pcall(s.emit, s, "disconnect", 1))
      r.fn_arg = table.pack(pcall(socket.emit, socket, "x", function() end, "y"))
      r.fn_nested = table.pack(pcall(s.emit, s, "x", { f = function() end }))
      r.co_arg = table.pack(pcall(socket.emit, socket, "x", coroutine.create(print)))
      -- still usable afterwards: these two go out
      socket:emit("after", "fine")
      socket:emit("finish")
    end)
    local c = client("listen", s.port)
    finish(c)
    assert.are.equal(6, #r.reserved)
    for _, t in ipairs(r.reserved) do
      assert.is_false(t.ok, t.ev)
      assert.matches("reserved", t.err, 1, true)
    end
    assert.is_false(r.broadcast_reserved[1])
    assert.is_false(r.fn_arg[1])
    assert.matches("function", r.fn_arg[2])
    assert.is_false(r.fn_nested[1])
    assert.matches("function", r.fn_nested[2])
    assert.is_false(r.co_arg[1])
    -- the client got only what was valid
    local evs = {}
    for _, e in ipairs(c.events()) do evs[#evs + 1] = e.event end
    assert.are.same({ "after", "finish" }, evs)
    assert.are.same({ "fine" }, c.find("event", "after").args)
  end)
end)

describe("rooms", function()
  it("join, leave, rooms(), to/except, fetch_sockets, sockets_join/leave, disconnect_sockets", function()
    local s = server()
    local S, reasons = {}, {}
    s:on("connection", function(socket)
      S[socket.auth.name] = socket
      socket:on("disconnect", function(reason) reasons[socket.auth.name] = reason end)
    end)
    local cs = {}
    for _, n in ipairs { "A", "B", "C" } do cs[n] = client("listen", s.port, { auth = { name = n }, wait = 10 }) end
    assert.is_true(H.run_until(function() return S.A and S.B and S.C end, 10000), "clients did not connect")
    local A, B, C = S.A, S.B, S.C
    local function ids(list)
      local t = {}
      for _, sk in ipairs(list) do t[#t + 1] = sk.id end
      return sorted(t)
    end

    assert.is_true(A:join("r1"))
    assert.is_true(B:join { "r1", "r2" })
    assert.is_true(C:join("r2"))
    assert.are.same({ A.id, "r1" }, A:rooms())
    assert.are.same({ B.id, "r1", "r2" }, B:rooms())
    assert.is_true(C:join("tmp"))
    assert.is_true(C:leave("tmp"))
    assert.are.same({ C.id, "r2" }, C:rooms())

    -- (one operator at a time: see "chained emitters" below)
    assert.is_true(s:to("r1"):emit("m", "to-r1"))                 -- A, B
    assert.is_true(A:to("r1"):emit("m", "A-to-r1"))               -- B: not the sender
    assert.is_true(s:except("r1"):emit("m", "not-r1"))            -- C
    assert.is_true(s:except("r2"):emit("m", "not-r2"))            -- A
    assert.is_true(s:to({ "r1", "r2" }):emit("m", "r1-or-r2"))    -- A, B, C once each
    assert.is_true(s:except({ "r1", "r2" }):emit("m", "nobody"))  -- nobody
    assert.is_true(s:to(A.id):emit("m", "to-A-by-id"))            -- A

    assert.are.same(sorted { A.id, B.id, C.id }, ids(s:fetch_sockets()))
    assert.are.same(sorted { B.id, C.id }, ids(s:to("r2"):fetch_sockets()))
    assert.are.same({ C.id }, ids(s:except("r1"):fetch_sockets()))

    s:to("r2"):sockets_join("r3")                                  -- B, C
    assert.are.same(sorted { B.id, C.id }, ids(s:to("r3"):fetch_sockets()))
    s:to("r3"):emit("m", "r3")                                     -- B, C
    s:to("r3"):sockets_leave("r2")                                 -- r2 now empty
    assert.are.same({}, s:to("r2"):fetch_sockets())
    assert.are.same({ C.id, "r3" }, C:rooms())
    s:to("r2"):emit("m", "r2-empty")                               -- nobody
    s:sockets_join("all")
    s:to("all"):emit("m", "all")                                   -- A, B, C
    s:sockets_leave("r1")
    assert.are.same({}, s:to("r1"):fetch_sockets())
    s:to("r1"):emit("m", "r1-gone")                                -- nobody

    s:to("r3"):disconnect_sockets()                                -- B, C
    assert.is_true(H.run_until(function() return reasons.B and reasons.C end, 5000))
    assert.is_nil(reasons.A)
    assert.are.equal(1, s:count())
    assert.are.same({ A.id }, ids(s:fetch_sockets()))
    s:disconnect_sockets()                                         -- A
    finish(cs.A, cs.B, cs.C)
    assert.is_true(H.run_until(function() return reasons.A end, 5000))
    assert.are.equal(0, s:count())
    assert.are.same({ A = "server namespace disconnect", B = "server namespace disconnect",
      C = "server namespace disconnect" }, reasons)

    local function got(c)
      local t = {}
      for _, e in ipairs(c.events("m")) do t[#t + 1] = e.args[1] end
      return sorted(t)
    end
    assert.are.same(sorted { "to-r1", "not-r2", "r1-or-r2", "to-A-by-id", "all" }, got(cs.A))
    assert.are.same(sorted { "to-r1", "A-to-r1", "r1-or-r2", "r3", "all" }, got(cs.B))
    assert.are.same(sorted { "not-r1", "r1-or-r2", "r3", "all" }, got(cs.C))
    for _, n in ipairs { "A", "B", "C" } do
      assert.is_true(cs[n].find("step", "wait").disconnected, cs[n].output())
    end
  end)
end)

describe("chained emitters", function()
  -- In a process of its own: an emitter derived from an emitter (io:to(a):except(b), ...) must
  -- keep the rooms of both; a crash there must fail this test, not the whole suite.
  it("io:to(a):except(b), io:to(a):to(b), io:to(a):timeout(ms), io:to(a):compress(false)", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      local S, n = {}, 0
      local function step(what, f)
        io.stdout:write("step ", what, "\n")
        io.stdout:flush()
        local ok, err = pcall(f)
        print("result", what, ok, err)
      end
      local function ids(list)
        local t = {}
        for _, sk in ipairs(list) do t[#t + 1] = sk.auth.name end
        table.sort(t)
        return table.concat(t, ",")
      end
      server:on("connection", function(socket)
        S[socket.auth.name] = socket
        n = n + 1
        socket:on("disconnect", function()
          n = n - 1
          if n == 0 then sio.shutdown() end
        end)
        if n < 2 then return end
        S.A:join("r1")
        S.B:join({ "r1", "r2" })
        step("to-except", function()
          print("fetch", ids(server:to("r1"):except("r2"):fetch_sockets()))
          server:to("r1"):except("r2"):emit("m", "r1-not-r2")         -- A
        end)
        step("to-to", function()
          print("fetch", ids(server:to("r1"):to("r2"):fetch_sockets()))
          server:to("r2"):to("r1"):emit("m", "r2-or-r1")              -- A, B
        end)
        step("except-to", function()
          server:except("r2"):to("r1"):emit("m", "r1-except-r2")      -- A
        end)
        step("to-compress", function()
          server:to("r2"):compress(false):emit("m", "r2-compress")    -- B
        end)
        step("to-timeout", function()
          server:to("r2"):timeout(3000):emit("q", function(err, responses)
            print("acks", err, #responses)
            server:emit("finish")
          end)
        end)
      end)
      print("port " .. server.port)
      io.stdout:flush()
      sio.run()
      print("run returned")
    ]]
    local a = H.client("listen", p.port, { auth = { name = "A" }, wait = 10 })
    local b = H.client("listen", p.port, { auth = { name = "B" }, wait = 10 })
    procs[#procs + 1] = a
    procs[#procs + 1] = b
    local status = H.wait_exit(p, 8000)
    H.wait_for(function() return a.done() and b.done() end, status and 8000 or 1000)
    local out = p.output()
    assert.are.equal(0, status, "the script ended with status " .. tostring(status) .. "\n" .. out .. p.errors())
    for _, what in ipairs { "to-except", "to-to", "except-to", "to-compress", "to-timeout" } do
      assert.is_truthy(out:find("result\t" .. what .. "\ttrue", 1, true), what .. "\n" .. out)
    end
    assert.matches("fetch\tA\n", out)
    assert.matches("fetch\tA,B\n", out)
    assert.matches("acks\tnil\t1", out)
    local function got(c)
      local t = {}
      for _, e in ipairs(c.events("m")) do t[#t + 1] = e.args[1] end
      return sorted(t)
    end
    assert.are.same(sorted { "r1-not-r2", "r2-or-r1", "r1-except-r2" }, got(a))
    assert.are.same(sorted { "r2-or-r1", "r2-compress" }, got(b))
  end)
end)

describe("middleware", function()
  it("refuses with next(message) or next{message=, data=}, takes (socket, next), survives errors", function()
    local s = server()
    local r = { calls = 0 }
    s:use(function(socket, auth, next)
      r.calls = r.calls + 1
      r.three = { socket_type = tostring(socket):match("^sio%.socket") ~= nil, auth = auth }
      local mode = type(auth) == "table" and auth.mode
      if mode == "deny" then next("unauthorized")
      elseif mode == "table" then next { message = "nope", data = { code = 42 } }
      elseif mode == "raise" then error("boom in middleware")
      else next() end
    end)
    s:use(function(socket, next)
      r.two = { next_type = type(next) }
      socket.data.passed = true
      next()
    end)
    local connected = 0
    s:on("connection", function(socket)
      connected = connected + 1
      socket:on("ping", function() return "pong", socket.data.passed end)
    end)
    local c = client("connect", s.port, {
      { auth = { mode = "deny" } },
      { auth = { mode = "table" } },
      { auth = { mode = "raise" } },
      { auth = { mode = "ok" }, call = { "ping" } },
    })
    finish(c)
    local res = {}
    for i = 1, 4 do res[i] = c.find("attempt", i - 1) or {} end
    assert.is_false(res[1].ok, c.output())
    assert.are.same({ message = "unauthorized" }, res[1].error)
    assert.is_false(res[2].ok)
    assert.are.same({ message = "nope", data = { code = 42 } }, res[2].error)
    assert.is_false(res[3].ok)
    assert.are.same({ message = "server error" }, res[3].error)
    -- and the server keeps serving
    assert.is_true(res[4].ok, c.output())
    assert.are.same({ ack = { "pong", true } }, res[4].call)
    assert.are.equal(4, r.calls)
    assert.are.equal(1, connected)
    assert.is_true(r.three.socket_type)
    assert.are.same({ mode = "ok" }, r.three.auth)
    assert.are.equal("function", r.two.next_type)
  end)
end)

describe("namespaces", function()
  it("io:of(name) static and io:of(function) dynamic", function()
    local s = server()
    local x = s:of("/x")
    assert.are.equal(x, s:of("/x"))
    assert.are.equal("/x", x.name)
    local r = { matched = {} }
    x:on("connection", function(socket)
      r.x = socket.nsp.name
      socket:on("where", function() return socket.nsp.name, x:count() end)
    end)
    local dyn = s:of(function(name, auth)
      r.matched[#r.matched + 1] = { name = name, k = type(auth) == "table" and auth.k or nil }
      return name:match("^/dyn%-%d+$") ~= nil
    end)
    dyn:on("connection", function(socket)
      r.dyn = socket.nsp.name
      socket:on("where", function() return socket.nsp.name end)
    end)
    local root = 0
    s:on("connection", function() root = root + 1 end)
    local c = client("connect", s.port, {
      { ns = "/x", call = { "where" } },
      { ns = "/dyn-12", auth = { k = "v" }, call = { "where" } },
      { ns = "/nope" },
    })
    finish(c)
    local res = {}
    for i = 1, 4 do res[i] = c.find("attempt", i - 1) or {} end
    assert.is_true(res[1].ok, c.output())
    assert.are.same({ ack = { "/x", 1 } }, res[1].call)
    assert.is_true(res[2].ok, c.output())
    assert.are.same({ ack = "/dyn-12" }, res[2].call)
    assert.is_false(res[3].ok)
    assert.are.same({ message = "Invalid namespace" }, res[3].error)
    assert.are.equal("/x", r.x)
    assert.are.equal("/dyn-12", r.dyn)
    assert.are.same({ name = "/dyn-12", k = "v" }, r.matched[1])
    assert.are.same("/nope", r.matched[#r.matched].name)
    assert.are.equal(0, root)
  end)
end)

describe("errors in handlers", function()
  it("are logged on stderr with the event's name and the server keeps answering", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket)
        socket:on("boom", function() error("kaboom from a handler") end)
        socket:on("boom-ack", function() error({}) end)
        socket:on("ok", function(n) return n + 1 end)
        socket:on("disconnect", function() sio.shutdown() end)
      end)
      print("port " .. server.port)
      io.stdout:flush()
      sio.run()
      print("run returned")
    ]]
    local c = H.client("listen", p.port, {
      steps = { { "emit", "boom" }, { "call", "boom-ack", {}, 0.5 }, { "call", "ok", 41 } }, wait = 0 })
    procs[#procs + 1] = c
    assert.is_true(H.wait_for(c.done, 20000), "client not done")
    assert.are.equal(0, H.wait_exit(p, 10000), p.errors())
    assert.are.equal(42, c.find("step", "ok").ack, c.output())
    assert.is_true(c.find("step", "boom-ack").timeout) -- no ack from a handler that raised
    local log = p.errors()
    assert.matches("ERROR%s+error in handler for boom: [^\n]*kaboom from a handler", log)
    assert.matches("stack traceback", log)
    assert.matches("error in handler for boom%-ack: %(error object is a table value%)", log)
    assert.matches("run returned", p.output())
  end)

  it("reuse the handler's coroutine; close its to-be-closed variables; keep an ack; after a wait too", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      local cos = {}
      local function note(name) cos[name] = tostring(coroutine.running()) end
      local function say(...) print(...) io.stdout:flush() end
      server:on("connection", function(socket)
        socket:on("boom", function()
          note("boom")
          local guard <close> = setmetatable({}, { __close = function(_, e) say("closed guard", e) end })
          local function deeper() error("kaboom with a guard") end
          deeper()
        end)
        socket:on("after", function(n) note("after") return n + 1 end)
        socket:on("keep", function(n, ack)
          sio.set_timeout(function() say("kept answers", ack("late", n)) end, 20)
          error(setmetatable({}, { __tostring = function() return "custom text " .. n end }))
        end)
        socket:on("answer", function()
          note("answer")
          sio.sleep(5)
          error("kaboom after a wait")
        end)
        socket:on("again", function(n) note("again") sio.sleep(5) return n * 2 end)
        socket:on("replaced", function() error("the old handler ran") end)
        socket:off("replaced")
        socket:on("replaced", function(n) return "new " .. n end)
        socket:on("bye", function()
          say("same coroutine", cos.boom == cos.after, cos.after == cos.answer, cos.answer == cos.again)
          sio.shutdown()
        end)
      end)
      print("port " .. server.port)
      io.stdout:flush()
      sio.run()
      print("run returned")
    ]]
    local c = H.client("listen", p.port, { steps = {
      { "call", "boom", {}, 0.5 }, { "call", "after", 41 }, { "call", "keep", 7 }, { "call", "answer", {}, 0.5 },
      { "call", "again", 21 }, { "call", "replaced", 1 }, { "emit", "bye" } }, wait = 0 })
    procs[#procs + 1] = c
    assert.is_true(H.wait_for(c.done, 20000), "client not done")
    assert.are.equal(0, H.wait_exit(p, 10000), p.errors())
    assert.is_true(c.find("step", "boom").timeout, c.output())
    assert.are.equal(42, c.find("step", "after").ack, c.output())
    assert.are.same({ "late", 7 }, c.find("step", "keep").ack, c.output())
    assert.is_true(c.find("step", "answer").timeout, c.output())
    assert.are.equal(42, c.find("step", "again").ack, c.output())
    assert.are.equal("new 1", c.find("step", "replaced").ack, c.output())
    local log, out = p.errors(), p.output()
    assert.matches("ERROR%s+error in handler for boom: [^\n]*kaboom with a guard\nstack traceback:\n%s*%[C%]: in function 'error'", log)
    assert.matches("in [^\n]*'deeper'", log)
    assert.matches("closed guard\t[^\n]*kaboom with a guard", out) -- closed, with the error, as a pcall would
    assert.matches("error in handler for keep: custom text 7\n", log)
    assert.matches("kept answers\ttrue", out)
    assert.matches("ERROR%s+error in handler for answer: [^\n]*kaboom after a wait\nstack traceback", log)
    assert.is_nil(log:find("the old handler ran", 1, true), log)
    assert.matches("same coroutine\ttrue\ttrue\ttrue", out)
    assert.matches("run returned", out)
  end)
end)

describe("sio.on_log", function()
  after_each(function() sio.on_log(nil) end)

  it("gets the core's records of every server: Redis outages, each session opened and closed", function()
    local got = {}
    sio.on_log(function(level, component, message)
      got[#got + 1] = { level = level, component = component, message = message }
    end, "debug")
    local s = server({ redis = "redis://127.0.0.1:1" }) -- port 1: refused
    local function find(component, pattern)
      for _, g in ipairs(got) do
        if g.component == component and g.message:match(pattern) then return g end
      end
    end
    assert.is_true(H.run_until(function() return find("redis", "^subscriber connection failed") end, 3000))
    local pub = find("redis", "^publisher connection failed: .* retrying with backoff")
    assert.is_truthy(pub)
    assert.are.equal("warn", pub.level)
    finish(client("connect", s.port, { { ns = "/" } }))
    assert.is_true(H.run_until(function() return find("engine", " closed: ") end, 3000))
    local opened = find("engine", "^session [%w_-]+ opened %(")
    assert.is_truthy(opened)
    assert.are.equal("info", opened.level)
    assert.matches("EIO 4, 127%.0%.0%.1%)$", opened.message)
    -- a level: nothing less severe is even made; nil goes back to the log (warnings and errors)
    local n = #got
    sio.on_log(function(level, component, message) got[#got + 1] = { level = level } end, "error")
    finish(client("connect", s.port, { { ns = "/" } }))
    H.pump(50)
    assert.are.equal(n, #got)
    assert.has_error(function() sio.on_log(42) end)
    assert.has_error(function() sio.on_log(print, "loud") end)
  end)

  it("sio.set_debug: the debug categories' records come as trace, with the category", function()
    local got = {}
    sio.on_log(function(level, component, message)
      got[#got + 1] = { level = level, component = component, message = message }
    end, "warn") -- the debug records come whatever the level
    local s = server()
    assert.are.equal(3, sio.set_debug("engine,socket")) -- SIO_DEBUG_ENGINE | SIO_DEBUG_SOCKET
    local function find(component, pattern)
      for _, g in ipairs(got) do
        if g.component == component and g.message:match(pattern) then return g end
      end
    end
    finish(client("connect", s.port, { { ns = "/" } }))
    assert.is_true(H.run_until(function() return find("engine", "^session [%w_-]+ closed: ") end, 3000))
    local hs = find("engine", "^session [%w_-]+ handshake: transport %a+, EIO 4, peer 127%.0%.0%.1$")
    assert.is_truthy(hs)
    assert.are.equal("trace", hs.level)
    assert.is_truthy(find("socket", "^socket [%w_-]+ out: connect nsp / ack %-1, 0 attachments %(%d+ bytes%)$"))
    for _, g in ipairs(got) do
      assert.are.equal("trace", g.level)
      assert.is_truthy(g.component == "engine" or g.component == "socket", g.component)
    end
    -- off again: nothing more
    assert.are.equal(0, sio.set_debug(nil))
    local n = #got
    finish(client("connect", s.port, { { ns = "/" } }))
    H.pump(50)
    assert.are.equal(n, #got)
    assert.has_error(function() sio.set_debug("engine,nope") end)
    assert.are.equal(63, sio.set_debug("*"))
    sio.set_debug("")
    assert.are.equal(sio.log.debug, sio.log.trace) -- sio.log[level] takes "trace" too
  end)

  it("without it the core's warnings are log lines; a function that raises is logged, the record too", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0, redis = "redis://127.0.0.1:1" })
      print("port " .. server.port)
      io.stdout:flush()
      sio.set_timeout(300, function()
        sio.on_log(function() error("log function broke") end)
        server:close()
        local again = assert(sio.server { host = "127.0.0.1", port = 0, redis = "redis://127.0.0.1:1" })
        sio.set_timeout(300, function() sio.shutdown() end)
      end)
      sio.run()
      print("run returned")
    ]]
    assert.are.equal(0, H.wait_exit(p, 10000), p.errors())
    local log = p.errors()
    assert.matches("WARN%s+sio: redis: publisher connection failed: [^\n]*retrying with backoff", log)
    assert.matches("ERROR%s+error in the sio.on_log function: [^\n]*log function broke", log)
    -- the second server's records reached the log all the same
    local _, n = log:gsub("sio: redis: publisher connection failed", "")
    assert.are.equal(2, n, log)
    assert.matches("run returned", p.output())
  end)
end)

describe("sio.shutdown()", function()
  it("closes the servers, the client sees a disconnect, and sio.run() returns", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      local reason
      server:on("connection", function(socket)
        socket:on("disconnect", function(r) reason = r end)
        sio.set_timeout(100, function() sio.shutdown() end)
        -- a timer that would keep the loop alive: shutdown stops it too
        sio.set_interval(function() end, 1000)
      end)
      print("port " .. server.port)
      io.stdout:flush()
      local alive = sio.run()
      print("run returned", alive, server.closed, reason)
    ]]
    local c = H.client("listen", p.port, { wait = 10 })
    procs[#procs + 1] = c
    assert.are.equal(0, H.wait_exit(p, 10000), p.output() .. p.errors())
    assert.is_true(H.wait_for(c.done, 10000))
    assert.matches("run returned\tfalse\ttrue\tserver shutting down", p.output())
    assert.is_truthy(c.find("disconnect", true), c.output())
    assert.is_true(c.find("step", "wait").disconnected)
  end)

  it("sio.run() after the last server:close() returns once it closed (no signal handles left)", function()
    local p = lua_process [[
      local sio = require "sio"
      local a = assert(sio.server { host = "127.0.0.1", port = 0 })
      local b = assert(sio.server { host = "127.0.0.1", port = 0 })
      print("port " .. a.port)
      io.stdout:flush()
      sio.set_timeout(50, function() b:close() end) -- b closes while run() waits
      a:close()
      print("run returned", sio.run(), a.closed, b.closed)
    ]]
    assert.are.equal(0, H.wait_exit(p, 10000), p.output() .. p.errors())
    assert.matches("run returned\tfalse\ttrue\ttrue", p.output())
  end)
end)

describe("timers", function()
  it("set_timeout fires once, in either argument order", function()
    local n1, n2, arg = 0, 0, nil
    local t1 = sio.set_timeout(function(t)
      n1 = n1 + 1
      arg = t
    end, 20)
    local t2 = sio.set_timeout(20, function() n2 = n2 + 1 end)
    assert.is_true(t1.active)
    assert.is_true(t2.active)
    assert.is_true(H.run_until(function() return n1 > 0 and n2 > 0 end, 2000))
    H.pump(80)
    assert.are.equal(1, n1)
    assert.are.equal(1, n2)
    assert.are.equal(t1, arg)
    assert.is_false(t1.active)
    assert.is_false(t2.active)
    t1:stop() -- stopping a finished timer is harmless
  end)

  it("a stopped timeout never fires", function()
    local fired = false
    local t = sio.set_timeout(30, function() fired = true end)
    t:stop()
    assert.is_false(t.active)
    H.pump(100)
    assert.is_false(fired)
  end)

  it("set_interval repeats until :stop(), in either argument order", function()
    local n1, n2 = 0, 0
    local t1 = sio.set_interval(function(t)
      n1 = n1 + 1
      if n1 == 3 then t:stop() end
    end, 10)
    local t2 = sio.set_interval(10, function() n2 = n2 + 1 end)
    assert.is_true(H.run_until(function() return n1 >= 3 and n2 >= 5 end, 3000))
    assert.is_true(t2.active)
    t2:cancel()
    assert.is_false(t2.active)
    local at = n2
    H.pump(80)
    assert.are.equal(3, n1)
    assert.is_false(t1.active)
    assert.are.equal(at, n2)
  end)

  it("raise on bad arguments; sio.now() counts milliseconds", function()
    assert.has_error(function() sio.set_timeout(10) end)
    assert.has_error(function() sio.set_timeout("x", function() end) end)
    assert.has_error(function() sio.set_interval(function() end) end)
    local t0 = sio.now()
    assert.are.equal("integer", math.type(t0))
    H.pump(50)
    local dt = sio.now() - t0
    assert.is_true(dt >= 45 and dt < 2000, tostring(dt))
  end)
end)

describe("io:engine", function()
  it("http_compression: big polling responses gzip/deflate-encoded per Accept-Encoding, as Node", function()
    local cases = { -- options, Accept-Encoding, expected Content-Encoding (false: none)
      { nil, "gzip, deflate", "gzip" },
      { nil, "gzip;q=0, deflate", "deflate" },
      { nil, "br", false },
      { nil, nil, false },
      { true, "deflate", "deflate" },
      { false, "gzip", false },
      { { threshold = 5000 }, "gzip", false },
      { { threshold = 2000 }, "gzip", "gzip" },
    }
    for i, case in ipairs(cases) do
      local s = server { http_compression = case[1] }
      local e = s:engine { path = "/engine.io/" }
      e:on("message", function(session, data) session:send(data) end)
      local c = client("compressed", s.port, { accept = case[2], size = 3000 })
      finish(c)
      local r = c.find("step", "poll")
      assert.is_truthy(r, c.output())
      assert.is_true(r.same, "case " .. i)
      assert.are.equal(case[3] or "", r.encoding, "case " .. i)
      if case[3] then
        assert.are.equal("Accept-Encoding", r.vary)
        assert.is_true(r.length < 1000, "case " .. i)
      end
    end
    for _, b in ipairs { "yes", 1, { threshold = -1 }, { threshold = "x" } } do
      local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, http_compression = b })
      assert.is_false(ok)
      local msg = tostring(err)
      assert.is_truthy(msg:find("http_compression", 1, true) or msg:find("'threshold'", 1, true), msg)
    end
  end)

  it("echoes with session:send: text stays text, binary stays binary", function()
    local s = server()
    local r = { types = {}, data = {} }
    local e = s:engine { path = "/engine.io/" }
    assert.are.equal(e, s:engine("/engine.io/"))
    e:on("connection", function(session) r.id = session.id end)
    e:on("message", function(session, data)
      r.types[#r.types + 1] = sio.is_binary(data) and "binary" or type(data)
      r.data[#r.data + 1] = sio.is_binary(data) and data:bytes() or data
      r.sent = session:send(data)
    end)
    local c = client("engine", s.port)
    finish(c)
    local hs = c.find("step", "handshake")
    assert.is_truthy(hs, c.output())
    assert.are.equal(200, hs.status)
    assert.matches("^0{", hs.body)
    assert.are.equal(r.id, sio.json.decode(hs.body:sub(2)).sid)
    assert.are.equal("ok", c.find("step", "post").body)
    assert.are.same({ "string", "binary", "string" }, r.types)
    assert.are.same({ "hello", "\0\1\255", "bye" }, r.data)
    assert.is_true(r.sent)
    assert.are.same({ "4hello", "bAAH/", "4bye" }, c.find("step", "read").packets)
  end)
end)

-- ---------------------------------------------------------------------------------------------
-- Handlers run in coroutines: waiting functions return their results in place.

describe("handler coroutines", function()
  it("socket:call returns the client's ack, or nil, \"timeout\"; an event's ack waits for its handler", function()
    local s = server()
    local r = {}
    s:on("connection", function(socket)
      r.ask = table.pack(socket:call("ask", 41))
      r.slow = table.pack(socket:timeout(300):call("slow", "x"))
      local t0 = sio.monotonic()
      r.slept = sio.sleep(50)
      r.slept_ms = sio.monotonic() - t0
      socket:emit("finish")
    end)
    s:on("connection", function(socket)
      socket:on("later", function(n)
        sio.sleep(30)
        return n * 2, "after a sleep"
      end)
    end)
    local c = client("listen", s.port, { answers = { ask = { "answer", 42 } }, no_ack = { "slow" },
      steps = { { "call", "later", 21 } } })
    finish(c)
    assert.are.same({ "answer", 42, n = 2 }, r.ask)
    assert.are.same({ nil, "timeout", n = 2 }, r.slow)
    assert.is_true(r.slept)
    assert.is_true(r.slept_ms >= 45, tostring(r.slept_ms))
    assert.are.same({ 42, "after a sleep" }, c.find("step", "later").ack)
    assert.is_true(c.find("step", "wait").finished)
  end)

  it("a wait ends with nil, \"disconnected\" when the socket goes; broadcasts wait with call()", function()
    local s = server()
    local r = {}
    s:on("connection", function(socket)
      socket:on("go", function()
        r.responses, r.err = s:timeout(2000):call("ask", 1)
        r.never = table.pack(socket:call("never"))
        r.after = socket.connected
      end)
    end)
    local c = client("listen", s.port, { answers = { ask = "yes" }, no_ack = { "never" },
      steps = { { "emit", "go" } }, wait = 1 })
    finish(c)
    assert.is_true(H.run_until(function() return r.never end, 5000))
    assert.are.same({ "yes" }, r.responses)
    assert.is_nil(r.err)
    assert.are.same({ nil, "disconnected", n = 2 }, r.never)
    assert.is_false(r.after)
  end)

  it("cluster requests wait in place (alone: this server's answers); waiting outside a handler raises", function()
    local s = server()
    local r = {}
    s:on("connection", function(socket)
      socket:join("here")
      r.count, r.count_err = s:fetch_count()
      r.rooms = s:all_rooms()
      r.sockets = s:to("here"):fetch_sockets { cluster = true }
      r.sse = table.pack(s:server_side_call("x"))
      -- a coroutine of the script's own is not a handler's: a clear error
      r.own = table.pack(pcall(coroutine.wrap(function() return sio.sleep(1) end)))
      socket:emit("finish")
    end)
    local c = client("listen", s.port, {})
    finish(c)
    assert.are.equal(1, r.count)
    assert.is_nil(r.count_err)
    table.sort(r.rooms)
    assert.are.equal(2, #r.rooms)
    assert.are.equal(1, #r.sockets)
    assert.are.same({ r.sockets[1].id, "here" }, r.sockets[1].rooms)
    assert.are.equal("ENOSYS", r.sse[3])
    assert.is_false(r.own[1])
    assert.matches("handler's coroutine", r.own[2])
    for _, f in ipairs { function() sio.sleep(1) end, function() s:fetch_count() end,
                         function() s:all_rooms() end, function() s:call("x") end,
                         function() s:fetch_sockets { cluster = true } end } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("waits only inside a handler's coroutine", err)
    end
  end)

  it("middleware may wait before next(); one that raises after a wait refuses with \"server error\"", function()
    local s = server()
    s:use(function(socket, auth, next)
      sio.sleep(20)
      if auth.bad then error("refused after a wait") end
      socket.data.checked = sio.monotonic()
      next()
    end)
    s:use(function(socket, next) -- JavaScript's (socket, next), waiting too
      local n = s:fetch_count()
      socket.data.count = n
      next()
    end)
    local seen = {}
    s:on("connection", function(socket) seen[#seen + 1] = socket.data end)
    local c = client("connect", s.port, { { auth = { bad = true } }, { auth = {} } })
    finish(c)
    assert.is_false(c.find("attempt", 0).ok, c.output())
    assert.are.same({ message = "server error" }, c.find("attempt", 0).error)
    assert.is_true(c.find("attempt", 1).ok, c.output())
    assert.are.equal(1, #seen)
    assert.is_number(seen[1].checked)
    assert.are.equal(0, seen[1].count)
  end)

  it("errors after a wait are logged; sio.shutdown() ends a sleep with nil, \"closed\"", function()
    local p = lua_process [[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket)
        socket:on("boom", function()
          sio.sleep(10)
          error("kaboom after a sleep")
        end)
        socket:on("ok", function(n) sio.sleep(10) return n + 1 end)
        socket:on("bye", function()
          sio.set_timeout(function() sio.shutdown() end, 20)
          print("sleep", sio.sleep(60000))
          io.stdout:flush()
        end)
        socket:on("yield", function() coroutine.yield() end)
      end)
      print("port " .. server.port)
      io.stdout:flush()
      sio.run()
      print("run returned")
    ]]
    local c = H.client("listen", p.port, {
      steps = { { "call", "boom", {}, 0.5 }, { "emit", "yield" }, { "call", "ok", 41 }, { "emit", "bye" } } })
    procs[#procs + 1] = c
    assert.is_true(H.wait_for(c.done, 20000), "client not done")
    assert.are.equal(0, H.wait_exit(p, 10000), p.errors())
    assert.are.equal(42, c.find("step", "ok").ack, c.output())
    assert.is_true(c.find("step", "boom").timeout)
    local log = p.errors()
    assert.matches("ERROR%s+error in handler for boom: [^\n]*kaboom after a sleep", log)
    assert.matches("stack traceback", log)
    assert.matches("yielded %(coroutine.yield%) outside sio's waiting functions", log)
    assert.matches("sleep\tnil\tclosed", p.output())
    assert.matches("run returned", p.output())
  end)
end)

describe("listeners", function()
  it("several per event in order, the first that answers is the ack; once; off", function()
    local s = server()
    local calls = {}
    local function rec(name) return function(...) calls[#calls + 1] = name .. ":" .. select("#", ...) end end
    local removed = rec("removed")
    s:on("connection", function(socket)
      socket:on("m", rec("first"))                       -- no return values: not the ack
      socket:on("m", function(n) calls[#calls + 1] = "second"; return n + 1 end)
      socket:on("m", function(n) calls[#calls + 1] = "third"; return "ignored" end)
      socket:once("m", rec("once"))
      socket:on("m", removed)
      socket:off("m", removed)
      socket:on("gone", rec("gone"))
      socket:off("gone")
    end)
    s:once("connection", function() calls[#calls + 1] = "connection-once" end)
    local dropped = function() calls[#calls + 1] = "connection-removed" end
    s:on("connection", dropped)
    s:off("connection", dropped)
    local c = client("listen", s.port, { steps = { { "call", "m", 1 }, { "call", "m", 2 }, { "emit", "gone" },
      { "call", "m", 3 } } })
    finish(c)
    local acks = {}
    for _, r in ipairs(c.results()) do
      if r.step == "m" then acks[#acks + 1] = r.ack end
    end
    assert.are.same({ 2, 3, 4 }, acks)
    assert.are.same({ "connection-once", "first:2", "second", "third", "once:2", "first:2", "second", "third",
      "first:2", "second", "third" }, calls)
  end)
end)

describe("clocks", function()
  it("sio.now() is ms since the epoch; sio.monotonic() never goes back", function()
    local now = sio.now()
    assert.are.equal("integer", math.type(now))
    assert.is_true(math.abs(now - os.time() * 1000) < 2000)
    local m0 = sio.monotonic()
    H.pump(20)
    assert.is_true(sio.monotonic() - m0 >= 15)
  end)
end)

describe("a disconnected socket", function()
  it("still broadcasts from a delayed callback, as in Node; its own emit is a no-op", function()
    local s = server()
    local r = {}
    local first
    s:on("connection", function(socket)
      socket:join("room")
      if first then
        first:disconnect()
        return
      end
      first = socket
      socket:on("disconnect", function()
        sio.set_timeout(function()
          r.own = socket:emit("x")
          r.broadcast = socket.broadcast:emit("bye", socket.id)
          r.room = socket:to("room"):emit("bye-room")
          s:emit("finish")
        end, 30)
      end)
    end)
    local a = client("listen", s.port, { wait = 10 })
    assert.is_true(H.run_until(function() return first ~= nil end, 8000), a.output())
    local b = client("listen", s.port, { wait = 10 })
    finish(a, b)
    assert.is_true(r.own and r.broadcast and r.room)
    assert.are.equal(first.id, b.events("bye")[1].args[1])
    assert.are.equal(1, #b.events("bye-room"))
  end)
end)

-- ---------------------------------------------------------------------------------------------
-- A cluster of two servers in this process through a real redis-server (started here on a free
-- port of 127.0.0.1, no persistence): server_side_emit, server-side listeners, all_rooms.

local have_redis = os.execute("command -v redis-server >/dev/null 2>&1")

local function start_redis()
  local f = assert(io.popen(H.q(H.python) ..
    [[ -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']]))
  local port = tonumber(f:read("l"))
  f:close()
  local out = H.tmpname()
  local p = H.spawn(("exec redis-server --port %d --save '' --appendonly no --bind 127.0.0.1"):format(port), out)
  procs[#procs + 1] = p
  assert(H.wait_for(function() return p.output():find("Ready to accept connections", 1, true) or not p.running() end,
    10000), "redis-server did not start: " .. p.output())
  return "redis://127.0.0.1:" .. port
end

-- nsp:server_side_emit(event, ..., callback) again until `nodes` other nodes answer (the servers
-- connect to Redis and subscribe asynchronously); returns err, responses.
local function until_answered(nsp, nodes, event, ...)
  local args = table.pack(...)
  local deadline = sio.now() + 8000
  while true do
    local got
    args[args.n + 1] = function(err, responses) got = { err = err, responses = responses } end
    local ok = nsp:server_side_emit(event, table.unpack(args, 1, args.n + 1))
    if ok then assert(H.run_until(function() return got ~= nil end, 7000), "no answer") end
    if got and #got.responses >= nodes or sio.now() > deadline then
      return got and got.err, got and got.responses
    end
    H.pump(50)
  end
end

describe("a cluster (redis-server)", function()
  if not have_redis then
    pending("redis-server is not installed (apt install redis-server)")
    return
  end

  it("server_side_emit: each other node's answer is its listener's first return value", function()
    local url = start_redis()
    local a, b = server { redis = url, redis_requests_timeout = 1500 }, server { redis = url }
    local seen = {}
    b:on("ask", function(...)
      seen[#seen + 1] = table.pack(...)
      return { got = sio.array { ... } }, "dropped: one answer per node"
    end)
    b:on("none", function() end) -- no return value: an answer without a value
    b:on("boom", function() error("kaboom from a server-side listener") end)
    local self_calls = 0
    a:on("ask", function() self_calls = self_calls + 1 end)
    a:on("back", function(x) return x * 2 end)
    local err, res = until_answered(a, 1, "ask", 1, "two", { k = 1.5 })
    assert.is_nil(err)
    assert.are.same({ { got = { 1, "two", { k = 1.5 } } } }, res)
    assert.are.equal(3, seen[1].n)
    -- a listener that raises sends no answer: the sender times out (its requests timeout, 1.5 s)
    local boomed
    local t0 = sio.now()
    assert.is_true(a:server_side_emit("boom", function(e, r) boomed = { e, r, sio.now() - t0 } end))
    local got = {}
    for _, ev in ipairs { "none", "nobody-listens" } do
      assert.is_true(a:server_side_emit(ev, function(e, r) got[ev] = { e, r } end))
    end
    assert.is_true(H.run_until(function() return got.none and got["nobody-listens"] end, 3000))
    assert.are.same({ nil, { sio.null } }, got.none)
    assert.are.same({ nil, { sio.null } }, got["nobody-listens"]) -- no listener: an empty answer
    -- the other way
    err, res = until_answered(b, 1, "back", 21)
    assert.is_nil(err)
    assert.are.same({ 42 }, res)
    assert.is_true(H.run_until(function() return boomed end, 4000))
    assert.matches("^ETIMEDOUT: ", boomed[1])
    assert.are.same({}, boomed[2])
    assert.is_true(boomed[3] >= 1400 and boomed[3] < 4000, tostring(boomed[3]))
    assert.are.equal(0, self_calls) -- never to its own node
  end)

  it("redis_mode streams and sharded with their options: requests cross, broadcasts go to the named stream", function()
    local url = start_redis()
    local port = url:match(":(%d+)$")
    local function cli(args)
      local f = assert(io.popen(("redis-cli -p %s %s"):format(port, args)))
      local out = f:read("a")
      f:close()
      return out
    end
    local opts = { redis = url, redis_mode = "streams", redis_stream_name = "lua-stream", redis_key = "lua-prefix",
      redis_max_len = 100, redis_read_count = 5, redis_block_time = 500 }
    local a, b = server(opts), server(opts)
    b:on("ask", function(x) return x + 1 end)
    local err, res = until_answered(a, 1, "ask", 1)
    assert.is_nil(err)
    assert.are.same({ 2 }, res)
    assert.matches("lua%-prefix#/#", cli("PUBSUB CHANNELS 'lua-prefix*'"))
    a:emit("news", 1) -- a broadcast: an entry of the named stream
    assert.is_true(H.run_until(function() return tonumber(cli("XLEN lua-stream")) >= 1 end, 3000))
    assert.are.equal("0", cli("EXISTS socket.io"):match("%d+"))
    local sa, sb = server { redis = url, redis_mode = "sharded", redis_subscription_mode = "static" },
      server { redis = url, redis_mode = "sharded", redis_subscription_mode = "static" }
    sb:on("ask", function(x) return x * 10 end)
    err, res = until_answered(sa, 1, "ask", 3)
    assert.is_nil(err)
    assert.are.same({ 30 }, res)
  end)

  it("waits in place in a handler's coroutine: server_side_call, fetch_count; listeners that wait answer", function()
    local url = start_redis()
    local a, b = server { redis = url }, server { redis = url }
    local observed = 0
    b:on("ask", function() observed = observed + 1 end) -- returns nothing: not the answer
    b:on("ask", function(x)
      sio.sleep(20)
      return x * 2
    end)
    local err, res = until_answered(a, 1, "ask", 1)
    assert.is_nil(err)
    assert.are.same({ 2 }, res)
    local r
    sio.set_timeout(function()
      local responses, e = a:server_side_call("ask", 21)
      local n, e2 = a:fetch_count()
      local rooms, e3 = b:all_rooms()
      r = { responses, e, n, e2, rooms, e3 }
    end, 0)
    assert.is_true(H.run_until(function() return r end, 8000))
    assert.are.same({ 42 }, r[1])
    assert.is_nil(r[2])
    assert.are.equal(0, r[3])
    assert.is_nil(r[4])
    assert.are.same({}, r[5])
    assert.is_nil(r[6])
    assert.are.equal(2, observed)
  end)

  it("server_side_emit without a callback arrives, arguments and nils in place, in a namespace", function()
    local url = start_redis()
    local a, b = server { redis = url }, server { redis = url }
    local chat_b, notes = b:of("/chat"), {}
    chat_b:on("ready", function() return true end)
    chat_b:on("note", function(...) notes[#notes + 1] = table.pack(...) end)
    local mine = 0
    a:of("/chat"):on("note", function() mine = mine + 1 end)
    local err, res = until_answered(a:of("/chat"), 1, "ready")
    assert.is_nil(err)
    assert.are.same({ true }, res)
    assert.is_true(a:of("/chat"):server_side_emit("note", "x", nil, { y = sio.null, l = { 1, 2 } }))
    assert.is_true(H.run_until(function() return #notes == 1 end, 3000))
    local n = notes[1]
    assert.are.equal(3, n.n)
    assert.are.equal("x", n[1])
    assert.is_nil(n[2])
    assert.are.same({ y = sio.null, l = { 1, 2 } }, n[3])
    -- "/" did not get it, nor the sender's node
    H.pump(100)
    assert.are.equal(1, #notes)
    assert.are.equal(0, mine)
  end)

  it("all_rooms: every room of every node, sockets' own ids included", function()
    local url = start_redis()
    local a, b = server { redis = url }, server { redis = url }
    local ids = {}
    a:on("connection", function(socket)
      ids[#ids + 1] = socket.id
      socket:join("room-a")
    end)
    b:on("connection", function(socket)
      ids[#ids + 1] = socket.id
      socket:join({ "room-b", "shared" })
    end)
    local c1 = client("listen", a.port, { wait = 20 })
    local c2 = client("listen", b.port, { wait = 20 })
    assert.is_true(H.run_until(function() return #ids == 2 end, 8000), c1.output() .. c2.output())
    local want = sorted { ids[1], ids[2], "room-a", "room-b", "shared" }
    local rooms, err
    local deadline = sio.now() + 8000
    repeat
      rooms = nil
      local ok = a:all_rooms(function(e, r) err, rooms = e, r end)
      if ok then H.run_until(function() return rooms ~= nil end, 7000) else H.pump(50) end
    until (rooms and #rooms == #want) or sio.now() > deadline
    assert.is_nil(err)
    assert.are.same(want, sorted(rooms))
    -- and from the other node, through a namespace that has no sockets
    local chat
    assert.is_true(b:of("/chat"):all_rooms(function(e, r) chat = { e, r } end))
    assert.is_true(H.run_until(function() return chat end, 7000))
    assert.are.same({ nil, {} }, chat)
    a:emit("finish") -- crosses the cluster
    finish(c1, c2)
  end)

  it("alone: server_side_emit answers ENOSYS, all_rooms this server's rooms; unreachable Redis: EUNAVAIL", function()
    local s = server()
    local ok, err, name = s:server_side_emit("x", 1)
    assert.is_nil(ok)
    assert.are.equal("ENOSYS", name)
    assert.matches("needs a cluster", err)
    local called = false
    ok, err, name = s:of("/x"):server_side_emit("x", function() called = true end)
    assert.is_nil(ok)
    assert.are.equal("ENOSYS", name)
    local rooms
    assert.is_true(s:all_rooms(function(e, r) rooms = { e, r } end))
    assert.is_true(H.run_until(function() return rooms end, 2000))
    assert.are.same({ nil, {} }, rooms)

    local lone = server { redis = "redis://127.0.0.1:1" } -- nothing listens there
    H.pump(50)
    ok, err, name = lone:server_side_emit("x", 1)
    assert.is_nil(ok)
    assert.are.equal("EUNAVAIL", name)
    assert.matches("^EUNAVAIL: ", err)
    -- with a function: answered from the loop with EUNAVAIL
    local got = {}
    assert.is_true(lone:server_side_emit("x", 1, function(e, r) got.emit = { e, #r } end))
    assert.is_true(lone:all_rooms(function(e, r) got.rooms = { e, #r } end))
    assert.is_true(lone:fetch_sockets(function(e, r) got.sockets = { e, #r } end))
    assert.is_nil(got.emit)
    assert.is_true(H.run_until(function() return got.emit and got.rooms and got.sockets end, 2000))
    for _, k in ipairs { "emit", "rooms", "sockets" } do
      assert.matches("^EUNAVAIL: ", got[k][1])
      assert.are.equal(0, got[k][2])
    end
    assert.is_false(called)
  end)

  it("raises on bad arguments: reserved names, binary, socket events, missing functions", function()
    local s = server()
    for _, ev in ipairs { "connect", "connection", "new_namespace" } do
      assert.has_error(function() s:server_side_emit(ev) end)
    end
    assert.has_error(function() s:on("new_namespace", function() end) end)
    local ok, err = pcall(s.on, s, "disconnect", function() end)
    assert.is_false(ok)
    assert.matches("socket:on", err)
    assert.has_error(function() s:on("x", "not a function") end)
    ok, err = pcall(s.server_side_emit, s, "x", sio.binary("\0\1"))
    assert.is_false(ok)
    assert.matches("JSON values only", err)
    assert.has_error(function() s:server_side_emit("x", function() end, 1) end) -- a function as data
    assert.has_error(function() s:server_side_emit() end)
    assert.has_error(function() s:all_rooms() end)
    assert.has_error(function() s:all_rooms("x") end)
    -- "connection" and "connect" are still the connection handler
    assert.are.equal(s, s:on("connect", function() end))
  end)
end)
